using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.Tiers;
using Memvisor.Machine.Tiers;

namespace Memvisor.Hypervisor;

// A tiered host's accesses per memory node: each guest access to a frame costs what its node costs beyond the
// reference DRAM (TierDefaults.Dram), and another CPU node's DRAM numa_remote_ns more, as Pond and the Optane
// measurements give them (docs/model.md, "Memory nodes and tiers").
public sealed partial class Host
{
    // Per (CPU node x memory node): the extra ns of a read and of a write; null on an untiered host.
    private double[]? _extraReadNs, _extraWriteNs;
    // Accesses of domains that were destroyed (or moved away), so the host's totals keep them.
    private NodeAccess? _retiredAccess;
    // Per node: whether a guest's touch brings its page back from there (NVMe under promote_on_touch); null when none does.
    private bool[]? _promoteOnTouch;

    private void InitTiers()
    {
        if (Machine.Tiers is not { } tiers) return;
        int n = tiers.Count;
        _extraReadNs = new double[n * n];
        _extraWriteNs = new double[n * n];
        _retiredAccess = new NodeAccess(n);
        if (Overcommit.Tiering is { Enabled: true, PromoteOnTouch: true })
            _promoteOnTouch = [.. tiers.Select(t => t.Kind == MemoryKind.Nvme)];
        for (int cpu = 0; cpu < n; cpu++)
            for (int mem = 0; mem < n; mem++)
            {
                // Beyond the reference DRAM a workload's rate assumes (TierDefaults.Dram): a DRAM node given slower
                // latencies costs its own guests too; a faster one gains them nothing.
                double remote = mem != cpu && tiers[mem].HasCpus ? Costs.NumaRemoteNs : 0;
                _extraReadNs[cpu * n + mem] = Math.Max(0, tiers[mem].Costs.AccessNs(tiers[mem].Kind, false) - TierDefaults.Dram.ReadNs + remote);
                _extraWriteNs[cpu * n + mem] = Math.Max(0, tiers[mem].Costs.AccessNs(tiers[mem].Kind, true) - TierDefaults.Dram.WriteNs + remote);
            }
    }

    /// <summary>What a read from memory node <paramref name="mem"/> costs a vCPU on <paramref name="cpu"/> beyond the reference DRAM.</summary>
    internal double ExtraReadNs(int cpu, int mem) => _extraReadNs is { } t ? t[cpu * Machine.Nodes.Count + mem] : 0;

    /// <summary>What a write to memory node <paramref name="mem"/> costs a vCPU on <paramref name="cpu"/> beyond the reference DRAM.</summary>
    internal double ExtraWriteNs(int cpu, int mem) => _extraWriteNs is { } t ? t[cpu * Machine.Nodes.Count + mem] : 0;

    /// <summary>Where a page demoted off node <paramref name="from"/> goes: of the nodes costlier to read from there (CPU-less ones only if <paramref name="slowerTierOnly"/>), the cheapest with a free frame; -1 if none has one.</summary>
    internal int DemotionTarget(int from, bool slowerTierOnly = false)
    {
        int best = -1;
        for (int n = 0; n < Machine.Nodes.Count; n++)
            if (n != from && Machine.Nodes[n].FreePages > 0 && !(slowerTierOnly && Machine.Tiers![n].HasCpus) && ExtraReadNs(from, n) > ExtraReadNs(from, from)
                && (best < 0 || ExtraReadNs(from, n) < ExtraReadNs(from, best))) best = n;
        return best;
    }

    /// <summary>The CPU node a domain's vCPUs run on: its preferred node if that has CPUs, else node 0.</summary>
    internal int CpuNodeOf(Domain d) =>
        Machine.Tiers is { } t && (uint)d.PreferredNode < (uint)t.Count && t[d.PreferredNode].HasCpus ? d.PreferredNode : 0;

    /// <summary>Counts and charges one guest access to frame <paramref name="mfn"/> on a tiered host.</summary>
    internal void ChargeNodeAccess(Domain d, NodeAccess counts, uint mfn, bool write)
    {
        int n = counts.Nodes;
        int mem = Machine.NodeOf(mfn);
        double extra = (write ? _extraWriteNs! : _extraReadNs!)[counts.CpuNode * n + mem];
        if (write) counts.Writes[mem]++; else counts.Reads[mem]++;
        if (extra == 0) return;
        counts.StallNs[mem] += extra;
        d.PendingStallNs += extra;
    }

    /// <summary>Whether a guest touching frame <paramref name="mfn"/> brings it back to its own node first (vSphere's NVMe tiering).</summary>
    internal bool PromotesOnTouch(uint mfn) => _promoteOnTouch is { } nodes && nodes[Machine.NodeOf(mfn)];

    // vSphere 8.0U3 / VCF 9 memory tiering (Broadcom, "Memory Tiering over NVMe Tech Preview, vSphere 8.0.3 Technical Guide", 2024).
    /// <summary>
    /// A guest touched <paramref name="gfn"/> on an NVMe node (promote_on_touch): it faults, and the page moves to the
    /// guest's own node, a cold page leaving it first if it is full; the guest waits for the exit and the copy (the
    /// NVMe read included).
    /// Called in the domain's turn (the heap is shared).
    /// </summary>
    internal void PromoteOnTouch(Domain d, ulong gfn)
    {
        if (d.P2m.Get(gfn) is not { Type: P2m.P2mType.Ram } e || !PromotesOnTouch(e.Mfn) || !IsMovable(d, gfn)) return;
        int cpu = CpuNodeOf(d);
        // A full node first gives up a cold page of the last scan to a slower node (the scanner's work, not waited for).
        if (Machine.Nodes[cpu].FreePages == 0 && !Tiering.MakeRoom(cpu))
        {
            Tiering.Counters.TouchRefused++;
            return;
        }
        double before = d.Counters.HypervisorNs;
        if (MigratePage(d.DomId, gfn, cpu, shootdown: false, quiet: true) != Memvisor.Seam.XenErrno.Ok) return;
        double wait = Costs.VmExitNs + (d.Counters.HypervisorNs - before);
        d.Counters.HypervisorNs += Costs.VmExitNs;
        d.PendingStallNs += wait;
        if (d.NodeAccess is { } access) access.TouchWaitNs += wait;
        Tiering.Counters.TouchPromoted++;
        Tiering.Counters.Promoted++;
    }

    /// <summary>The accesses per memory node of every domain this host has had; null on an untiered host.</summary>
    public NodeAccess? NodeAccessTotals()
    {
        if (_retiredAccess is null) return null;
        var total = new NodeAccess(_retiredAccess.Nodes);
        total.Add(_retiredAccess);
        foreach (var d in Domains)
            if (d.NodeAccess is { } a) total.Add(a);
        return total;
    }

    /// <summary>Frames of each memory node that domains own now (tot_pages by node), for the per-node figures.</summary>
    public long[] OwnedFramesByNode()
    {
        var owned = new long[Machine.Nodes.Count];
        foreach (var d in Domains)
            d.P2m.ForEachPresent((_, e) =>
            {
                if (e.Type == P2m.P2mType.Ram) owned[Machine.NodeOf(e.Mfn)]++;
            });
        return owned;
    }

    private void RetireNodeAccess(Domain d)
    {
        if (d.NodeAccess is { } a) _retiredAccess?.Add(a);
    }

    /// <summary>The kind name of memory node <paramref name="node"/>, or dram on an untiered host.</summary>
    public string NodeKindName(int node) => Machine.Tiers is { } t ? TierDefaults.Name(t[node].Kind) : "dram";
}
