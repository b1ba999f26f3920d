/* nmtrain/train.h: network, methods, optimiser, trainer. */
#ifndef NMTRAIN_TRAIN_H
#define NMTRAIN_TRAIN_H
#endif
