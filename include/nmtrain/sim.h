/* nmtrain/sim.h: the SAT accelerator simulator (see docs/sat.md). */
#ifndef NMTRAIN_SIM_H
#define NMTRAIN_SIM_H
#endif
