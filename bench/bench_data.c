/* bench_data: decoded and augmented images/s of the image-folder loader
 * against torchvision's DataLoader with the same number of workers, on a
 * generated tree of 500x375 JPEGs (4 classes) at 224 output with
 * RandomResizedCrop + flip + normalisation, two epochs each.
 *   build/bench/bench_data [IMAGES [WORKERS]]   (default 400 images, 1 worker)
 * The torchvision side runs bench/dataloader_torch.py when Debian's
 * python3-torchvision is installed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "nmtrain.h"

static void write_jpeg(const char *path, int w, int h, int seed)
{
    FILE *f = fopen(path, "wb");
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)w, cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3, cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    while (cinfo.next_scanline < cinfo.image_height) {
        const int y = (int)cinfo.next_scanline;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                row[3 * x + c] = (uint8_t)((x * (c + 1) + y * (seed % 7 + 1) + ((x ^ y) & 15) * 4 + seed * 13) & 255);
        JSAMPROW r = row;
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(f);
    free(row);
}

int main(int argc, char **argv)
{
    const int images = argc > 1 ? atoi(argv[1]) : 400, workers = argc > 2 ? atoi(argv[2]) : 1;
    char root[64] = "/tmp/nmt_bench_data_XXXXXX", path[256];
    if (images < 4 || workers < 1 || !mkdtemp(root)) {
        fprintf(stderr, "usage: bench_data [IMAGES >= 4 [WORKERS >= 1]]\n");
        return 2;
    }
    for (int split = 0; split < 2; split++)
        for (int c = 0; c < 4; c++) {
            snprintf(path, sizeof path, "%s/%s", root, split ? "val" : "train");
            mkdir(path, 0755);
            snprintf(path, sizeof path, "%s/%s/c%d", root, split ? "val" : "train", c);
            mkdir(path, 0755);
            for (int i = 0; i < (split ? 1 : images / 4); i++) {
                snprintf(path, sizeof path, "%s/%s/c%d/%d.jpg", root, split ? "val" : "train", c, i);
                write_jpeg(path, 500, 375, c * 1000 + i);
            }
        }
    nmt_image_options opt = {224, 0.0f, workers, 4, 0};
    nmt_dataset ds;
    if (nmt_dataset_load_images("imagefolder", root, 1, &opt, &ds) != 0) {
        fprintf(stderr, "bench_data: %s\n", nmt_errmsg());
        return 1;
    }
    float mean[3], std[3];
    nmt_dataset_stats(&ds, mean, std);
    nmt_loader ld;
    const nmt_augment aug = {1, 1};
    float *x = malloc(sizeof(float) * 3 * 224 * 224 * 32);
    int labels[32], n, total = 0;
    if (!x || nmt_loader_init(&ld, &ds, 32, 0, aug, mean, std, 1) != 0) return 1;
    const double start = nmt_now();
    for (int epoch = 0; epoch < 2; epoch++) {
        nmt_loader_epoch(&ld, epoch);
        while ((n = nmt_loader_next(&ld, x, labels)) > 0) total += n;
    }
    const double seconds = nmt_now() - start;
    printf("nmtrain loader, %d worker(s): %d images in %.2f s = %.0f images/s\n", workers, total, seconds,
           total / seconds);
    fflush(stdout);
    nmt_loader_free(&ld);
    nmt_dataset_free(&ds);
    free(x);
    snprintf(path, sizeof path, "/usr/bin/python3 bench/dataloader_torch.py %s/train %d", root, workers);
    if (system(path) != 0) printf("torchvision: not run (needs Debian's python3-torchvision)\n");
    snprintf(path, sizeof path, "rm -rf %s", root);
    return system(path) != 0;
}
