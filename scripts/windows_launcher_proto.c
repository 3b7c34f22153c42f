/* A native Windows twin of loadbench/launcher.c, kept only as the instrument of
 * scripts/bench_windows_launcher.py: it runs the windows-job probe's per-launch sequence in C so
 * that the ctypes loop's own cost can be measured against it (see the README, "Windows
 * launcher"). It is not shipped: the measurement found no difference worth a second launcher.
 *
 * Usage: windows_launcher_proto SCHEDULE RESULTS [BALLAST_MIB], the LB1 protocol of launcher.c (UTF-8 tokens,
 * each NUL-terminated): "LB1" timeout_ms show_output ntargets, per target argc argv.. nevict
 * (must be 0), nenv "K=V".., norder index... RESULTS gets launcher.c's 12 tab-separated fields
 * per launch (faults = the job's TotalPageFaultCount, maxrss = its peak process commit).
 * Per launch, as windows_job.launch_in_job does: a job with KILL_ON_JOB_CLOSE, CreateProcessW
 * suspended with a Unicode environment block, AssignProcessToJobObject, ResumeThread, wait
 * (TerminateJobObject after the timeout), QueryPerformanceCounter just before CreateProcessW and
 * just after the wait. BALLAST_MIB commits and touches that much memory first, to see whether
 * the size of the launching process changes the launches (it does under Wine). Build: x86_64-w64-mingw32-gcc -O2 -municode -o proto.exe THIS.c */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

enum { ST_OK, ST_EXIT_NONZERO, ST_SIGNALED, ST_TIMEOUT, ST_SPAWN_FAILED };

static char **tok;
static long ntok, pos;

static const char *next_tok(void) {
    if (pos >= ntok) {
        fprintf(stderr, "launcher: schedule file ends early\n");
        exit(2);
    }
    return tok[pos++];
}

static long next_long(void) { return strtol(next_tok(), NULL, 10); }

static wchar_t *widen(const char *s) {
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = malloc(sizeof(wchar_t) * (size_t)n);
    MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}

/* The MSVC / CommandLineToArgvW quoting of windows_job.quote_argument. */
static void append_arg(wchar_t *out, const wchar_t *a) {
    if (*a && !wcspbrk(a, L" \t\n\v\"")) {
        wcscat(out, a);
        return;
    }
    size_t o = wcslen(out), bs = 0;
    out[o++] = L'"';
    for (; *a; a++) {
        if (*a == L'\\') {
            bs++;
            continue;
        }
        size_t n = *a == L'"' ? 2 * bs + 1 : bs;
        while (n--)
            out[o++] = L'\\';
        out[o++] = *a;
        bs = 0;
    }
    for (size_t i = 0; i < 2 * bs; i++)
        out[o++] = L'\\';
    out[o++] = L'"';
    out[o] = 0;
}

static int cmp_env(const void *x, const void *y) {
    return _wcsicmp(*(wchar_t *const *)x, *(wchar_t *const *)y);
}

int wmain(int argc, wchar_t **argv) {
    if (argc != 3 && argc != 4)
        return 2;
    if (argc == 4) {
        size_t ballast = (size_t)_wtol(argv[3]) << 20;
        volatile char *b = VirtualAlloc(NULL, ballast, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
        for (size_t i = 0; b && i < ballast; i += 4096)
            b[i] = 1;
    }
    FILE *in = _wfopen(argv[1], L"rb"), *out = _wfopen(argv[2], L"wb");
    if (!in || !out)
        return 2;
    fseek(in, 0, SEEK_END);
    long len = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (fread(buf, 1, (size_t)len, in) != (size_t)len)
        return 2;
    fclose(in);
    for (long i = 0; i < len; i++)
        ntok += buf[i] == 0;
    tok = malloc(sizeof(char *) * (size_t)(ntok + 1));
    for (long i = 0, start = 0, k = 0; i < len; i++)
        if (buf[i] == 0) {
            tok[k++] = buf + start;
            start = i + 1;
        }
    if (strcmp(next_tok(), "LB1") != 0)
        return 2;
    long timeout_ms = next_long(), show_output = next_long(), ntargets = next_long();
    wchar_t **apps = calloc((size_t)ntargets, sizeof(wchar_t *));
    wchar_t **lines = calloc((size_t)ntargets, sizeof(wchar_t *));
    for (long t = 0; t < ntargets; t++) {
        long n = next_long();
        lines[t] = calloc(32768, sizeof(wchar_t));
        for (long i = 0; i < n; i++) {
            wchar_t *a = widen(next_tok());
            if (i == 0) {
                apps[t] = a;
                wcscat(lines[t], L"\"");
                wcscat(lines[t], a);
                wcscat(lines[t], L"\"");
            } else {
                wcscat(lines[t], L" ");
                append_arg(lines[t], a);
            }
        }
        if (next_long() != 0)
            return 2; /* no cold cache on Windows */
    }
    long nenv = next_long();
    wchar_t **envs = calloc((size_t)nenv + 1, sizeof(wchar_t *));
    size_t envlen = 1;
    for (long i = 0; i < nenv; i++) {
        envs[i] = widen(next_tok());
        envlen += wcslen(envs[i]) + 1;
    }
    qsort(envs, (size_t)nenv, sizeof(wchar_t *), cmp_env);
    wchar_t *block = calloc(envlen + 1, sizeof(wchar_t)), *p = block;
    for (long i = 0; i < nenv; i++) {
        wcscpy(p, envs[i]);
        p += wcslen(envs[i]) + 1;
    }
    long norder = next_long();
    long *order = calloc((size_t)norder + 1, sizeof(long));
    for (long i = 0; i < norder; i++)
        order[i] = next_long();

    static char outbuf[1 << 20];
    setvbuf(out, outbuf, _IOFBF, sizeof outbuf);
    LARGE_INTEGER freq;
    QueryPerformanceFrequency(&freq);
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE nul = show_output ? NULL
                             : CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE,
                                           FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                                           OPEN_EXISTING, 0, NULL);
    wchar_t *cmd = calloc(32768, sizeof(wchar_t));
    for (long i = 0; i < norder; i++) {
        long t = order[i];
        HANDLE job = CreateJobObjectW(NULL, NULL);
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION lim;
        memset(&lim, 0, sizeof lim);
        lim.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        SetInformationJobObject(job, JobObjectExtendedLimitInformation, &lim, sizeof lim);
        STARTUPINFOW si;
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        if (nul) {
            si.dwFlags = STARTF_USESTDHANDLES;
            si.hStdInput = si.hStdOutput = si.hStdError = nul;
        }
        PROCESS_INFORMATION pi;
        memset(&pi, 0, sizeof pi);
        wcscpy(cmd, lines[t]);
        LARGE_INTEGER t0, t1;
        QueryPerformanceCounter(&t0);
        BOOL ok = CreateProcessW(apps[t], cmd, NULL, NULL, nul != NULL,
                                 CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT, block, NULL, &si,
                                 &pi);
        if (!ok) {
            DWORD err = GetLastError();
            QueryPerformanceCounter(&t1);
            fprintf(out, "%ld\t%d\t%lld\t0\t0\t0\t0\t0\t%lu\t\t%lld\t0\n", t, ST_SPAWN_FAILED,
                    (t1.QuadPart - t0.QuadPart) * 1000000000LL / freq.QuadPart, err,
                    t0.QuadPart * 1000000000LL / freq.QuadPart);
            CloseHandle(job);
            continue;
        }
        AssignProcessToJobObject(job, pi.hProcess);
        ResumeThread(pi.hThread);
        int st = ST_OK;
        if (WaitForSingleObject(pi.hProcess, (DWORD)timeout_ms) == WAIT_TIMEOUT) {
            TerminateJobObject(job, 1);
            WaitForSingleObject(pi.hProcess, INFINITE);
            st = ST_TIMEOUT;
        }
        QueryPerformanceCounter(&t1);
        DWORD code = 0;
        GetExitCodeProcess(pi.hProcess, &code);
        JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acct;
        memset(&acct, 0, sizeof acct);
        QueryInformationJobObject(job, JobObjectBasicAccountingInformation, &acct, sizeof acct,
                                  NULL);
        QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &lim, sizeof lim, NULL);
        if (st == ST_OK && code != 0)
            st = ST_EXIT_NONZERO;
        fprintf(out, "%ld\t%d\t%lld\t%lld\t%lld\t%lu\t0\t%llu\t%lu\t\t%lld\t%lu\n", t, st,
                (t1.QuadPart - t0.QuadPart) * 1000000000LL / freq.QuadPart,
                acct.TotalUserTime.QuadPart * 100, acct.TotalKernelTime.QuadPart * 100,
                acct.TotalPageFaultCount, (unsigned long long)lim.PeakProcessMemoryUsed, code,
                t0.QuadPart * 1000000000LL / freq.QuadPart, pi.dwProcessId);
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
        CloseHandle(job);
    }
    return fclose(out) == 0 ? 0 : 2;
}
