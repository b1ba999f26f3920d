/* Scanning image-folder splits into file lists in torchvision's
 * ImageFolder order: classes are the sorted folder names of ROOT/train,
 * files are walked in sorted order (os.walk sorted by folder, then names). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/image.h"

typedef struct name_list {
    char **items;
    int count, capacity;
} name_list;

static int list_push(name_list *l, const char *text)
{
    if (l->count == l->capacity) {
        int grown = l->capacity ? 2 * l->capacity : 64;
        char **p = realloc(l->items, sizeof(char *) * (size_t)grown);
        if (!p) return -1;
        l->items = p;
        l->capacity = grown;
    }
    if (!(l->items[l->count] = strdup(text))) return -1;
    l->count++;
    return 0;
}

static void list_free(name_list *l)
{
    for (int i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_image_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Sorted entries of `dir`: its folders (want_dirs) or its image files. */
static int list_dir(const char *dir, int want_dirs, name_list *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        nmt_error("%s: cannot open: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int is_dir = is_directory(path);
        if (want_dirs ? !is_dir : (is_dir || !has_image_extension(e->d_name))) continue;
        if (list_push(out, e->d_name) != 0) {
            closedir(d);
            nmt_error("%s: out of memory listing the folder", dir);
            return -1;
        }
    }
    closedir(d);
    if (out->count > 1) qsort(out->items, (size_t)out->count, sizeof(char *), compare_names);
    return 0;
}

/* Appends one image path and its label, growing both arrays together;
 * `source` (the folder or list being read) names the failure. */
static int add_image(struct nmt_image_files *out, int *capacity, const char *image, int label, const char *source)
{
    if (out->count == *capacity) {
        int grown = *capacity ? 2 * *capacity : 1024;
        char **p = realloc(out->paths, sizeof(char *) * (size_t)grown);
        int *l = p ? realloc(out->labels, sizeof(int) * (size_t)grown) : NULL;
        if (p) out->paths = p;
        if (l) out->labels = l;
        if (!p || !l) {
            nmt_error("%s: out of memory listing the images", source);
            return -1;
        }
        *capacity = grown;
    }
    if (!(out->paths[out->count] = strdup(image))) {
        nmt_error("%s: out of memory listing the images", source);
        return -1;
    }
    out->labels[out->count++] = label;
    return 0;
}

/* Appends the images under `dir` (any depth) to out->paths, labelled
 * `label`. os.walk sorted by folder path visits a folder before its
 * subfolders and subfolders in name order, which is this recursion. */
static int walk_class(const char *dir, int label, struct nmt_image_files *out, int *capacity)
{
    name_list files = {0}, dirs = {0};
    int rc = list_dir(dir, 0, &files);
    if (!rc) rc = list_dir(dir, 1, &dirs);
    char path[PATH_MAX];
    for (int i = 0; !rc && i < files.count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files.items[i]);
        rc = add_image(out, capacity, path, label, dir);
    }
    for (int i = 0; !rc && i < dirs.count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, dirs.items[i]);
        rc = walk_class(path, label, out, capacity);
    }
    list_free(&files);
    list_free(&dirs);
    return rc;
}

static int find_class(const name_list *classes, const char *name)
{
    if (classes->count == 0) return -1;
    char *const *hit = bsearch(&name, classes->items, (size_t)classes->count, sizeof(char *), compare_names);
    return hit ? (int)(hit - classes->items) : -1;
}

/* Tiny ImageNet's validation split as shipped: val/images/ and
 * val/val_annotations.txt ("file<TAB>wnid<TAB>box..."). */
static int scan_tiny_val(const char *root, const name_list *classes, struct nmt_image_files *out, int *capacity)
{
    char path[PATH_MAX], line[1024];
    snprintf(path, sizeof path, "%s/val/val_annotations.txt", root);
    FILE *f = fopen(path, "r");
    if (!f) {
        nmt_error("%s: cannot read: %s (run scripts/check_data_root.sh to lay out the val folder)", path,
                  strerror(errno));
        return -1;
    }
    int rc = 0, line_no = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        line_no++;
        char file[512], wnid[256];
        if (sscanf(line, "%511[^\t]\t%255[^\t\n]", file, wnid) != 2) {
            nmt_error("%s:%d: expected 'file<TAB>class'", path, line_no);
            rc = -1;
            break;
        }
        int label = find_class(classes, wnid);
        if (label < 0) {
            nmt_error("%s:%d: class '%s' is not in %s/train", path, line_no, wnid, root);
            rc = -1;
            break;
        }
        char image[PATH_MAX];
        snprintf(image, sizeof image, "%s/val/images/%s", root, file);
        rc = add_image(out, capacity, image, label, path);
    }
    fclose(f);
    if (!rc && out->count == 0) {
        nmt_error("%s: no images listed", path);
        rc = -1;
    }
    return rc;
}

int nmt_image_files_scan(const char *name, const char *root, int train, struct nmt_image_files *out)
{
    memset(out, 0, sizeof *out);
    const int tiny = !strcmp(name, "tinyimagenet");
    char train_dir[PATH_MAX], split_dir[PATH_MAX], path[2 * PATH_MAX + 2];
    snprintf(train_dir, sizeof train_dir, "%s/train", root);
    snprintf(split_dir, sizeof split_dir, "%s/%s", root, train ? "train" : "val");
    if (!is_directory(train_dir)) {
        nmt_error("%s: not a folder (expected ROOT/train/<class>/ and ROOT/val/<class>/)", train_dir);
        return -1;
    }
    name_list classes = {0};
    if (list_dir(train_dir, 1, &classes) != 0) return -1;
    int rc = 0, capacity = 0;
    if (classes.count == 0) {
        nmt_error("%s: no class folders", train_dir);
        rc = -1;
    }
    snprintf(path, sizeof path, "%s/val/val_annotations.txt", root);
    if (!rc && tiny && !train && access(path, F_OK) == 0) {
        rc = scan_tiny_val(root, &classes, out, &capacity);
    } else if (!rc) {
        name_list split = {0};
        if (!is_directory(split_dir)) {
            nmt_error("%s: not a folder", split_dir);
            rc = -1;
        }
        if (!rc) rc = list_dir(split_dir, 1, &split);
        if (!rc && split.count == 0) {
            nmt_error("%s: no class folders", split_dir);
            rc = -1;
        }
        for (int i = 0; !rc && i < split.count; i++) {
            const int label = find_class(&classes, split.items[i]);
            snprintf(path, sizeof path, "%s/%s", split_dir, split.items[i]);
            if (label < 0) {
                nmt_error("%s: class '%s' is not in %s", path, split.items[i], train_dir);
                rc = -1;
                break;
            }
            const int before = out->count;
            rc = walk_class(path, label, out, &capacity);
            if (!rc && out->count == before) {
                nmt_error("%s: no images (.jpg, .jpeg or .png) in the class folder", path);
                rc = -1;
            }
        }
        list_free(&split);
    }
    out->classes = classes.count;
    list_free(&classes);
    if (rc) nmt_image_files_free(out);
    return rc;
}

void nmt_image_files_free(struct nmt_image_files *files)
{
    if (!files) return;
    for (int i = 0; i < files->count; i++) free(files->paths[i]);
    free(files->paths);
    free(files->labels);
    memset(files, 0, sizeof *files);
}
