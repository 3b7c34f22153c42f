/* cmain: the smallest C program with libc's start-up (built static), to compare with perf stat. */
int main(void) { return 0; }
