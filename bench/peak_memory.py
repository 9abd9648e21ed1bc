"""Peak resident memory of the running process, for the benchmarks' child runs."""

__all__ = ["peak_rss_mib"]


def peak_rss_mib():
    """This process's peak resident set size (``VmHWM``) in MiB; Linux only.

    Not ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that over
    from the parent across fork and exec, so a child started by a parent
    holding TensorFlow reports the parent's peak, not its own.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (not Linux?)")
