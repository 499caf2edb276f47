namespace Memvisor.Hypervisor.Mmu;

/// <summary>A domain's MMU counters (summary.json <c>domains[].mmu</c>). Plain fields: they are bumped on the translation path.</summary>
public record struct MmuStats
{
    /// <summary>VM exits by <see cref="ExitReason"/>, held inline so a copy of the record shares nothing with the MMU.</summary>
    public ExitCounts Exits;
    public long Hypercalls;
    /// <summary>mmu_update entries submitted, and of those refused.</summary>
    public long Updates;
    public long UpdatesRefused;
    /// <summary>mmuext_op commands, and of those refused.</summary>
    public long ExtOps;
    public long ExtOpsRefused;
    /// <summary>Page faults delivered to the guest's own handler (its entry was not present or not writable).</summary>
    public long DemandFaults;
    public long EmulatedWrites;
    /// <summary>L1 pages let out of sync (Shadow-3), and out-of-sync pages brought back.</summary>
    public long Unsynced;
    public long Resyncs;
    /// <summary>Shadow faults fixed from the guest's entry without the guest seeing them.</summary>
    public long PulledThrough;
    /// <summary>Shadow tables made, and removed when nothing linked to them any more.</summary>
    public long ShadowsMade;
    public long ShadowsRemoved;
    public long TlbHits;
    public long TlbMisses;
    public long TlbFlushes;
    public long Walks;
    public long WalkRefsTotal;
    public int WalkRefsMax;
    /// <summary>Simulated time the hypervisor spent on this domain's MMU work, in ns.</summary>
    public double HypervisorNs;

    public readonly long ExitsTotal
    {
        get
        {
            long total = 0;
            foreach (long n in Exits) total += n;
            return total;
        }
    }
    public readonly long HypervisorTrips => ExitsTotal + Hypercalls;
    public readonly double UpdatesPerHypercall => Hypercalls == 0 ? 0 : (double)Updates / Hypercalls;

    /// <summary>Counts one walk of <paramref name="refs"/> memory references; call it on the live field, never on a copy.</summary>
    internal void Walked(int refs)
    {
        Walks++;
        WalkRefsTotal += refs;
        if (refs > WalkRefsMax) WalkRefsMax = refs;
    }
}

/// <summary>One counter per <see cref="ExitReason"/>, inline in <see cref="MmuStats"/>.</summary>
[System.Runtime.CompilerServices.InlineArray(ExitReasons.Count)]
public struct ExitCounts
{
    private long _first;
}
