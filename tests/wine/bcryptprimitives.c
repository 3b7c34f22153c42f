/* A stand-in bcryptprimitives.dll for the Wine tests. Go >= 1.22 programs for Windows get their
 * random numbers from bcryptprimitives.dll!ProcessPrng, which Wine 8.0 does not have, so every
 * Go program dies at start-up there. This DLL exports ProcessPrng and answers it with
 * BCryptGenRandom (which Wine has), the system's preferred generator. Built with Debian's
 * mingw-w64 by the tests' fixture into the test session's own Wine prefix; never shipped. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        /* BCryptGenRandom takes a ULONG length; ProcessPrng a SIZE_T one. */
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE; /* like Windows' own: it cannot fail short of running out of memory */
}
