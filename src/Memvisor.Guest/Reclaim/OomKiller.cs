using Memvisor.Guest.Kernel;

namespace Memvisor.Guest.Reclaim;

/// <summary>Linux's OOM killer: when reclaim frees nothing, ends the process with the highest badness (resident pages, swap entries and page tables; the lowest pid on a tie).</summary>
internal sealed class OomKiller(GuestKernel k)
{
    /// <summary>Kills one process; false if there is none to kill.</summary>
    public bool KillLargest()
    {
        Mm.Process? victim = null;
        foreach (var p in k.Processes.Live)
            if (victim is null || p.Counters.Badness > victim.Counters.Badness || (p.Counters.Badness == victim.Counters.Badness && p.Pid < victim.Pid))
                victim = p;
        if (victim is null || victim.Counters.Badness == 0) return false;
        long pages = victim.Counters.Badness;
        k.Exit(victim);
        k.RecordOomKill(victim, pages);
        return true;
    }
}
