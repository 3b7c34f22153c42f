/* floor.exe: the Windows twin of the Linux floor binary. Its entry point only calls
 * ExitProcess(0): no C runtime, no Go runtime. Built with mingw-w64 by the Wine tests and used as
 * the null binary that measures a launcher's own cost there. */
#include <windows.h>

void __stdcall start(void) { ExitProcess(0); }
