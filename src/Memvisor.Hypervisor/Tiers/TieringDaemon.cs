using Memvisor.Hypervisor.Domains;
using Memvisor.Hypervisor.P2m;
using Memvisor.Machine.Lanes;
using Memvisor.Seam;

namespace Memvisor.Hypervisor.Tiers;

/// <summary>
/// Transparent tiering, as RAMinate does in the hypervisor (Hirofuchi and Takano, SoCC'16): every scan interval it
/// reads and clears the accessed bit of every guest page's p2m (EPT) entry and flushes the guests' TLBs so that the
/// bits are set again; a page accessed since the last scan is hot, one not accessed for cold_after scans is cold. Hot
/// pages on a slower node than the guest's own are promoted to its node, a cold page there demoted to the fastest
/// other node with room when the node is full, at most moves_per_scan pages a scan. The guest knows nothing of it.
/// </summary>
public sealed class TieringDaemon
{
    private readonly Host _hv;
    private readonly TieringOptions _options;
    // Per domain, per gfn: scans since its last access (saturating).
    private readonly Dictionary<Domain, byte[]> _ages = [];
    private readonly List<(Domain D, ulong Gfn)> _hot = [], _cold = [];
    private readonly List<Domain> _scanned = [];
    private long _sinceScanNs;
    // Per node, the next entry of the last scan's cold list to look at for a page on that node to demote: scans, and
    // touches between them, take from it in order, each node without using up the others' entries.
    private int[] _coldAt = [];
    // Marks a hot-list entry promoted for a write rather than for being hot (gfns stay far below bit 63).
    private const ulong WrittenFlag = 1UL << 63;
    // Pressure-driven offloading: per domain its limit, and per scanned domain its pages on its own node and its cold entries' range in _cold.
    private readonly Dictionary<Domain, PressureLimit> _limits = [];
    private readonly Dictionary<Domain, (long Fast, int ColdStart, int ColdEnd)> _fast = [];
    private bool Pressure => _options.PressureTargetNs > 0;

    internal TieringDaemon(Host hv, TieringOptions options) => (_hv, _options) = (hv, options);

    internal TieringStats Counters;
    public TieringStats Stats => Counters;
    public TieringOptions Options => _options;

    internal void Step(long dtNs)
    {
        if (!_options.Enabled || _hv.Machine.Tiers is null) return;
        _sinceScanNs += dtNs;
        if (_sinceScanNs < _options.ScanIntervalNs) return;
        _sinceScanNs -= _options.ScanIntervalNs;
        Turn.Take();
        Scan();
        int budget = Pressure ? Offload() : _options.MovesPerScan;
        Move(budget);
        Flush();
    }

    private void Scan()
    {
        _hot.Clear();
        _cold.Clear();
        if (_coldAt.Length != _hv.Machine.Nodes.Count) _coldAt = new int[_hv.Machine.Nodes.Count];
        Array.Clear(_coldAt);
        _scanned.Clear();
        _fast.Clear();
        long cold = 0, hot = 0;
        foreach (var gone in _ages.Keys.Where(d => !_hv.Domains.Contains(d)).ToList()) _ages.Remove(gone);
        foreach (var gone in _limits.Keys.Where(d => !_hv.Domains.Contains(d)).ToList()) _limits.Remove(gone);
        // The domains in turn, from a start that moves on each scan: the rate limit does not favour the first.
        var domains = _hv.Domains;
        int start = domains.Count == 0 ? 0 : (int)(Counters.Scans % domains.Count);
        for (int k = 0; k < domains.Count; k++)
        {
            var d = domains[(start + k) % domains.Count];
            if (d.IsDying || d.IsPv || d.Incoming || d.IsCrashed) continue;
            ulong capacity = d.P2m.Capacity;
            if (!_ages.TryGetValue(d, out var ages) || (ulong)ages.Length != capacity)
            {
                // A page first seen has not been accessed in a scan before.
                _ages[d] = ages = new byte[capacity];
                Array.Fill(ages, (byte)1);
            }
            int cpu = _hv.CpuNodeOf(d);
            long scanned = 0, fast = 0, domainCold = 0;
            int coldStart = _cold.Count;
            _scanned.Add(d);
            for (ulong gfn = 0; gfn < capacity; gfn++)
            {
                var e = d.P2m.Get(gfn);
                if (e.Type != P2mType.Ram) continue;
                scanned++;
                bool accessed = d.P2m.TestAndClearTierAccessed(gfn);
                bool written = d.P2m.TestAndClearDirty(gfn);
                // Hot: accessed in this scan and the one before (a page of the cold tail touched once is not).
                bool isHot = accessed && ages[gfn] == 0;
                ages[gfn] = accessed ? (byte)0 : (byte)Math.Min(255, ages[gfn] + 1);
                int node = _hv.Machine.NodeOf(e.Mfn);
                if (node == cpu)
                {
                    fast++;
                    // Cold pages to demote: as many as one scan could move, the rest only counted; with pressure-driven
                    // offloading as many per domain, since a domain offloads its own.
                    if (!accessed && ages[gfn] >= _options.ColdScans)
                    {
                        if ((Pressure ? domainCold : cold) < _options.MovesPerScan) _cold.Add((d, gfn));
                        cold++;
                        domainCold++;
                    }
                }
                // Hot pages to promote, and with write-aware (HMvisor's aim) pages written where writes cost more than at
                // home: as many as one scan could move, the rest only counted.
                else if ((isHot && _hv.ExtraReadNs(cpu, node) > _hv.ExtraReadNs(cpu, cpu))
                    || (_options.WriteAware && written && _hv.ExtraWriteNs(cpu, node) > _hv.ExtraWriteNs(cpu, cpu)))
                {
                    if (hot++ < _options.MovesPerScan) _hot.Add((d, isHot ? gfn : gfn | WrittenFlag));
                }
            }
            Counters.ScanNs += scanned * _hv.Costs.AdScanPageNs;
            Counters.PagesScanned += scanned;
            if (Pressure) _fast[d] = (fast, coldStart, _cold.Count);
        }
        Counters.Scans++;
        Counters.HotPagesLast = hot;
        Counters.ColdPagesLast = cold;
    }

    // TMO: each scanned domain's limit follows its stall on slower memory since the last scan (Senpai's law), and cold
    // pages above it leave its node for a slower one. Returns the scan's moves left for promotions.
    private int Offload()
    {
        int budget = _options.MovesPerScan;
        foreach (var d in _scanned)
        {
            if (d.NodeAccess is not { } access || !_fast.TryGetValue(d, out var f)) continue;
            double stall = access.SlowStallNs();
            if (!_limits.TryGetValue(d, out var limit))
            {
                // Senpai starts from what the cgroup holds (memory.current): here all the domain's pages, wherever they are.
                _limits[d] = new PressureLimit(d.TotPages, stall, _options.PressureProbeEvery);
                continue;
            }
            switch (limit.Tick(stall, d.TotPages, _options.PressureTargetNs, _options.PressureProbeEvery, _options.PressureFloorPages))
            {
                case 1: Counters.PressureBackoffs++; break;
                case -1: Counters.PressureProbes++; break;
            }
            int cpu = _hv.CpuNodeOf(d);
            long fast = f.Fast;
            for (int i = f.ColdStart; i < f.ColdEnd && fast > limit.Limit && budget > 0; i++)
            {
                var (_, gfn) = _cold[i];
                if (d.P2m.Get(gfn) is not { Type: P2mType.Ram } e || _hv.Machine.NodeOf(e.Mfn) != cpu) continue;
                int to = _hv.DemotionTarget(cpu, slowerTierOnly: true);
                if (to < 0) break;
                if (_hv.MigratePage(d.DomId, gfn, to, shootdown: false, quiet: true) != XenErrno.Ok) continue;
                Counters.Demoted++;
                Counters.Offloaded++;
                fast--;
                budget--;
            }
            _fast[d] = f with { Fast = fast };
        }
        return budget;
    }

    // Hot pages go to their guest's node; when it is full, a cold page there leaves first for the cheapest costlier node
    // with room. Under pressure-driven offloading a domain at its limit brings none home.
    private void Move(int budget)
    {
        foreach (var (d, tagged) in _hot)
        {
            if (budget <= 0) break;
            ulong gfn = tagged & ~WrittenFlag;
            int cpu = _hv.CpuNodeOf(d);
            if (Pressure && _limits.TryGetValue(d, out var limit) && _fast.TryGetValue(d, out var f) && f.Fast >= limit.Limit) continue;
            if (_hv.Machine.Nodes[cpu].FreePages == 0)
            {
                // No cold page to make room with: this page waits; another guest's node may have room.
                if (budget < 2 || !DemoteOne(cpu)) continue;
                budget--;
            }
            if (_hv.MigratePage(d.DomId, gfn, cpu, shootdown: false, quiet: true) != XenErrno.Ok) continue;
            if (Pressure && _fast.TryGetValue(d, out var moved)) _fast[d] = moved with { Fast = moved.Fast + 1 };
            Counters.Promoted++;
            if ((tagged & WrittenFlag) != 0) Counters.WritePromoted++;
            budget--;
        }
        if (!_options.PromoteOnTouch) return;
        // Room for the touches until the next scan: cold pages leave each node with CPUs for a CPU-less (slower) node
        // until it has a scan's moves free; another DRAM node would only pass the room back and forth.
        for (int node = 0; node < _hv.Machine.Nodes.Count; node++)
        {
            if (!_hv.Machine.Tiers![node].HasCpus) continue;
            while (budget > 0 && _hv.Machine.Nodes[node].FreePages < _options.MovesPerScan && DemoteOne(node, slowerTierOnly: true)) budget--;
        }
    }

    // The accessed bits are set again only by a walk, and moved pages' translations must go: after each scan every
    // scanned domain's vCPUs get one shootdown, covering both.
    private void Flush()
    {
        foreach (var d in _scanned) _hv.ShootDown(d);
    }

    // Between scans nobody batches the flush: the demoted page's domain gets its own shootdown.
    /// <summary>Makes room on <paramref name="node"/> for a page a guest touched on NVMe: the next cold page of the last scan there leaves. False if none can.</summary>
    internal bool MakeRoom(int node) => DemoteOne(node, slowerTierOnly: true, shootdown: true);

    private bool DemoteOne(int node, bool slowerTierOnly = false, bool shootdown = false)
    {
        if (node >= _coldAt.Length) return false;
        while (_coldAt[node] < _cold.Count)
        {
            var (d, gfn) = _cold[_coldAt[node]++];
            if (!_hv.Domains.Contains(d) || d.P2m.Get(gfn) is not { Type: P2mType.Ram } e || _hv.Machine.NodeOf(e.Mfn) != node) continue;
            int to = _hv.DemotionTarget(node, slowerTierOnly);
            if (to < 0) return false;
            if (_hv.MigratePage(d.DomId, gfn, to, shootdown, quiet: true) != XenErrno.Ok) continue;
            Counters.Demoted++;
            return true;
        }
        return false;
    }
}
