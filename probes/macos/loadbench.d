/*
 * loadbench.d -- kernel timestamps and VM fault counts of every launch, for loadbench's
 * macos-dtrace probe (loadbench/probes/macos_dtrace.py).
 *
 * Usage (root):  dtrace -q -s loadbench.d <launcher-pid>
 *
 * Traces the processes descended from <launcher-pid> (progenyof), except the launcher itself
 * and this dtrace process, which is also the launcher's child.
 *
 * Output: one record per line: "LB", the record type, then fields separated by single spaces;
 * integers are decimal. loadbench.parsers.macos_dtrace.parse_dtrace_lines reads it: change both
 * together and bump MacosDtraceProbe.version.
 *
 *   LB begin <launcher_pid> <timestamp>          all probes are enabled: launching may start
 *   LB exec <pid> <ppid> <timestamp> <execname>  proc:::exec-success (the new image runs)
 *   LB exit <pid> <timestamp> <reason>           proc:::exit (xnu always passes 1, CLD_EXITED)
 *   LB fault <pid> <kind> <count>                at END: per pid and vminfo probe, sum of arg0
 *   LB end <timestamp>                           the last line
 *
 * <timestamp> is D's `timestamp`: nanoseconds derived from mach_absolute_time(), the clock of
 * Python's time.monotonic_ns() on macOS. Lines from different CPUs are not in time order. For
 * posix_spawn, xnu fires exec-success when the new image's first thread leaves the kernel. The
 * launch's real exit status comes from wait4, not from the exit record.
 * Fault kinds (xnu osfmk/vm/vm_fault.c): as_fault fires for every fault except copy-on-write
 * ones, cow_fault for those, so as_fault + cow_fault is all faults; zfod (zero-filled page) and
 * maj_fault (went to the pager) are kinds of fault; pgin counts page-ins. Counts are kept in an
 * aggregation (per-CPU, so concurrent threads of a Go target lose no updates) and printed once
 * at END: a line per fault would flood the trace buffers and slow the launches being measured.
 */

#pragma D option quiet
#pragma D option switchrate=10hz
#pragma D option bufsize=8m
#pragma D option aggsize=8m

dtrace:::BEGIN
{
	printf("LB begin %d %d\n", $1, timestamp);
}

proc:::exec-success
/progenyof($1) && pid != $1 && pid != $pid/
{
	printf("LB exec %d %d %d %s\n", pid, ppid, timestamp, execname);
}

proc:::exit
/progenyof($1) && pid != $1 && pid != $pid/
{
	printf("LB exit %d %d %d\n", pid, timestamp, arg0);
}

vminfo:::as_fault,
vminfo:::zfod,
vminfo:::cow_fault,
vminfo:::maj_fault,
vminfo:::pgin
/progenyof($1) && pid != $1 && pid != $pid/
{
	@lb_fault[pid, probename] = sum(arg0);
}

dtrace:::END
{
	printa("LB fault %d %s %@d\n", @lb_fault);
	printf("LB end %d\n", timestamp);
}
