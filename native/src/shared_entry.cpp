// libkernelport.so is the core archive linked whole; this file only gives the target a source.
#include "kernelport.h"
