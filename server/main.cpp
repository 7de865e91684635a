#include "sabla/server.h"

int main(int argc, char** argv) { return sabla::run_cli(argc, argv); }
