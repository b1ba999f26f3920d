/* The nmtrain sub-commands: each is a thin layer over the library. */
#ifndef NMT_CLI_COMMANDS_H
#define NMT_CLI_COMMANDS_H

int nmt_cmd_train(int argc, char **argv);
int nmt_cmd_eval(int argc, char **argv);
int nmt_cmd_info(int argc, char **argv);
int nmt_cmd_export(int argc, char **argv);
int nmt_cmd_sim(int argc, char **argv);

#endif
