using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Mmu.Tlb;
using Memvisor.Seam;
using Memvisor.Machine.Time;

namespace Memvisor.Hypervisor.Mmu;

/// <summary>
/// One vCPU's memory-management unit as its MMU mode makes it: the TLB, the walk the hardware does on a miss, and
/// what a page-table write, an address-space switch and an INVLPG cost in trips into the hypervisor. The guest sees
/// gfn-addressed tables through it in every mode. Time the hypervisor spends is charged to the domain as stall.
/// </summary>
public abstract class GuestMmu : IGuestMmu
{
    private protected Host Hv;
    private protected Domain Domain;
    private protected readonly IGuestMemory Memory;

    private protected GuestMmu(Host hv, Domain domain, IGuestMemory memory, MmuOptions options)
    {
        Hv = hv;
        Domain = domain;
        Memory = memory;
        Options = options;
        Tlb = new VcpuTlb(options.TlbEntries, options.TaggedTlb, options.WalkCaches);
    }

    /// <summary>
    /// The vCPU resumes in the restored domain <paramref name="domain"/> (its port moved with it): whatever the MMU
    /// cached of the old domain's frames goes, the TLB is flushed, log-dirty mode is off, and the current address
    /// space is loaded again.
    /// </summary>
    internal virtual void MoveTo(Host hv, Domain domain)
    {
        Hv = hv;
        Domain = domain;
        LogDirty = null;
        Tlb.FlushAll();
    }

    public MmuOptions Options { get; }
    public MmuMode Mode => Options.Mode;
    public VcpuTlb Tlb { get; }
    /// <summary>The live counters, bumped in place on the translation path; <see cref="Stats"/> is a copy for readers.</summary>
    private protected MmuStats Counters;
    /// <summary>The current address space: its top-level table (a gfn) and its tag.</summary>
    public ulong Root { get; private protected set; }
    public int Asid { get; private protected set; }
    private protected CostModel Costs => Hv.Costs;

    /// <summary>The hardware translating <paramref name="vpn"/> in the current address space, setting accessed and dirty bits on the way.</summary>
    public abstract Translation Translate(Vpn page, bool write);

    /// <summary>The guest reads one of its page-table entries (frames as gfns).</summary>
    public virtual ulong ReadEntry(ulong table, int index) => Memory.TryReadWord(new Gfn(table), index, out ulong e) ? e : 0;

    /// <summary>The guest writes one of its page-table entries (frames as gfns); false if the hypervisor refused it.</summary>
    public abstract bool WriteEntry(ulong table, int index, ulong value);

    /// <summary>A context switch: the guest loads <paramref name="root"/> as its top-level table, tagged <paramref name="asid"/>. False if refused.</summary>
    public abstract bool SwitchAddressSpace(ulong root, int asid);

    /// <summary>The guest is done with an address space (its process exited); the hypervisor may drop what it kept for it.</summary>
    public virtual void ReleaseAddressSpace(ulong root) { }

    /// <summary>INVLPG: the guest changed the entry behind <paramref name="vpn"/>.</summary>
    public virtual void Invlpg(ulong vpn) => Tlb.Invalidate(Asid, vpn);

    /// <summary>A full TLB flush of the current address space.</summary>
    public virtual void FlushTlb() => Tlb.FlushAll();

    public virtual bool LargePages => true;

    /// <summary>A hint for the simulator's own caches (see <see cref="IGuestMmu.Prefetch"/>); nothing by default.</summary>
    public virtual void Prefetch(Vpn page, int stage, bool write) { }

    public virtual bool PinTopLevel(ulong root) => true;

    // Another address space's pages: Linux flushes them lazily; the model drops the tagged entries (INVPCID, which
    // exits neither under EPT nor where a CR3 switch flushes everything anyway).
    public void InvalidatePage(int asid, Vpn page)
    {
        ulong vpn = page.Value;
        if (asid == Asid) Invlpg(vpn);
        else Tlb.Invalidate(asid, vpn);
    }

    public void FlushAddressSpace(int asid)
    {
        if (asid == Asid) FlushTlb();
        else Tlb.FlushAsid(asid);
    }

    /// <summary>The domain's log-dirty bitmap while log-dirty mode is on (live migration's rounds), else null.</summary>
    public LogDirty.LogDirtyBitmap? LogDirty { get; private set; }

    /// <summary>XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY: every page is write-protected, so the first write to each faults.</summary>
    public void EnableLogDirty(ulong capacityGfns)
    {
        if (LogDirty is not null) return;
        LogDirty = new LogDirty.LogDirtyBitmap(capacityGfns);
        Charge(Costs.HypercallNs + Domain.TotPages * Costs.LogDirtyProtectPageNs);
        Tlb.FlushAll();
    }

    /// <summary>SHADOW_OP_OFF: write access comes back; the bitmap is dropped.</summary>
    public void DisableLogDirty() => LogDirty = null;

    /// <summary>SHADOW_OP_CLEAN (<paramref name="clean"/>) or PEEK: the dirty gfns into <paramref name="dirty"/>; their count, or -1 if log-dirty mode is off.</summary>
    public int ReadLogDirty(bool clean, Span<ulong> dirty)
    {
        if (LogDirty is not { } log) return -1;
        int n = clean ? log.Clean(0, log.Capacity, dirty) : log.Peek(0, log.Capacity, dirty);
        Charge(Costs.HypercallNs + (clean ? n * Costs.LogDirtyProtectPageNs : 0));
        if (clean && n > 0) Tlb.FlushAll();
        return n;
    }

    /// <summary>The guest wrote <paramref name="gfn"/>: in log-dirty mode its first write since the last clean faults and is logged.</summary>
    internal void OnGuestWrite(ulong gfn)
    {
        if (LogDirty is { } log && log.OnWrite(gfn)) Exit(ExitReason.LogDirty, Costs.LogDirtyProtectPageNs);
    }

    /// <summary>Issues any updates the guest has queued (PV's lazy MMU batch); nothing in the other modes.</summary>
    public virtual void Submit() { }

    /// <summary>The MMU's counters with the TLB's, as of now; reading them changes nothing.</summary>
    public MmuStats Stats => Counters with { TlbHits = Tlb.Hits, TlbMisses = Tlb.Misses, TlbFlushes = Tlb.Flushes };

    /// <summary>A trip into the hypervisor that is not a hypercall: counted, charged with the exit and <paramref name="workNs"/>, and (untagged) a TLB flush.</summary>
    private protected void Exit(ExitReason reason, double workNs)
    {
        Counters.Exits[(int)reason]++;
        Charge(Costs.VmExitNs + workNs);
        Tlb.WorldSwitch();
    }

    private protected void Charge(double ns)
    {
        Counters.HypervisorNs += ns;
        Domain.PendingStallNs += ns;
    }

    private protected void ChargeWalk(int refs)
    {
        Counters.Walked(refs);
        Domain.PendingStallNs += refs * Costs.WalkRefNs;
    }

    /// <summary>Makes the MMU for a domain's mode.</summary>
    internal static GuestMmu Create(Host hv, Domain domain, IGuestMemory memory, MmuOptions options) => options.Mode switch
    {
        MmuMode.Hap => new Hap.HapMmu(hv, domain, memory, options),
        MmuMode.Shadow2 or MmuMode.Shadow3 => new Shadow.ShadowMmu(hv, domain, memory, options),
        MmuMode.Pv => new Pv.PvMmu(hv, domain, memory, options),
        _ => throw new ArgumentOutOfRangeException(nameof(options), options.Mode, "There is no such MMU mode."),
    };
}
