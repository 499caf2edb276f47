using Memvisor.Policy.Snapshot;

namespace Memvisor.Policy.Esx;

/// <summary>
/// VMware ESX's memory scheduler (Waldspurger, OSDI 2002). Each VM has shares, a reservation (what it always keeps)
/// and a limit (the most it gets). When memory is short it is reclaimed from the VM with the fewest shares per page,
/// rho = S / (P (f + k (1 - f))), where f is the VM's active share estimated by the hypervisor's sampler and
/// k = 1/(1 - idle tax): idle pages are taxed, so an idle VM gives memory to a busy one. The host's free-memory
/// state picks the mechanism: none in high, ballooning in soft, compression and swapping (hypervisor paging) in
/// hard and low.
/// </summary>
public sealed class EsxPolicy(EsxOptions options, long intervalNs) : IPolicy
{
    /// <summary>The most chunks one allocation takes.</summary>
    public const long MaxSteps = 1L << 24;

    private readonly HashSet<string> _paging = [];

    public string Name => "esx";
    public long IntervalNs => intervalNs;
    public EsxOptions Options => options;
    public EsxState State { get; private set; }

    public IReadOnlyList<PolicyAction> Decide(HostSnapshot host)
    {
        var actions = new List<PolicyAction>();
        State = StateOf(host.TotalPages == 0 ? 1 : (double)host.FreePages / host.TotalPages);
        long held = host.Domains.Sum(d => d.TotPages);
        long available = host.FreePages + held - (long)(options.HighShare * host.TotalPages);
        var entitled = Allocate(host.Domains, available, options.IdleTax, options.ChunkPages);
        long freeNow = Math.Max(0, host.FreePages - (long)(options.HighShare * host.TotalPages));
        foreach (var d in host.Domains)
        {
            long alloc = entitled[d.Name];
            long margin = BalloonProgress.Margin(alloc);
            if (d.FeatureBalloon && !d.Uncooperative)
            {
                if (alloc < d.TargetPages - margin && State != EsxState.High)
                    actions.Add(PolicyAction.MemSet(d.Name, alloc));
                else if (alloc > d.TargetPages + margin && freeNow > 0)
                {
                    long grant = Math.Min(alloc - d.TargetPages, freeNow);
                    freeNow -= grant;
                    actions.Add(PolicyAction.MemSet(d.Name, d.TargetPages + grant));
                }
            }
            // Compression and swapping take what the balloon has not, in hard and low states only.
            if (State >= EsxState.Hard && d.TotPages > alloc + margin)
            {
                long pagingTarget = State == EsxState.Low ? alloc - margin : alloc;
                actions.Add(new PolicyAction(PolicyActionKind.PagingTarget, d.Name, pagingTarget));
                _paging.Add(d.Name);
            }
            else if (State <= EsxState.Soft && _paging.Remove(d.Name))
            {
                actions.Add(new PolicyAction(PolicyActionKind.PagingTarget, d.Name, -1));
            }
        }
        return actions;
    }

    public EsxState StateOf(double freeShare) =>
        freeShare >= options.HighShare ? EsxState.High
        : freeShare >= options.SoftShare ? EsxState.Soft
        : freeShare >= options.HardShare ? EsxState.Hard
        : EsxState.Low;

    /// <summary>
    /// Each VM's entitlement when <paramref name="available"/> pages are shared out: every VM starts at its limit, and
    /// while they add up to more than is available a chunk is taken from the VM with the fewest shares per page
    /// (idle pages taxed), never below its reservation.
    /// </summary>
    public static Dictionary<string, long> Allocate(IReadOnlyList<DomainSnapshot> domains, long available, double idleTax, long chunkPages)
    {
        var alloc = new long[domains.Count];
        long total = 0;
        double k = 1 / (1 - Math.Min(idleTax, 0.99));
        // The VM with the fewest shares per page first: a heap of (rho, index), so ties go to the earlier VM and each
        // chunk costs log n instead of a pass over every VM.
        var heap = new PriorityQueue<int, (double Rho, int Index)>();
        for (int i = 0; i < domains.Count; i++)
        {
            alloc[i] = Math.Max(domains[i].LimitPages, domains[i].ReservationPages);
            total += alloc[i];
        }
        // Chunks grow past chunkPages only where more than 2^24 of them would be needed (over 16 TiB to take back),
        // so that no snapshot, however large its numbers, makes a decision run for hours.
        long step = Math.Max(chunkPages, (total - available + MaxSteps - 1) / MaxSteps);
        for (int i = 0; i < domains.Count; i++) Offer(i);
        while (total > available && heap.TryDequeue(out int victim, out _))
        {
            long take = Math.Min(step, total - available);
            alloc[victim] -= take;
            total -= take;
            Offer(victim);
        }
        var result = new Dictionary<string, long>(domains.Count);
        for (int i = 0; i < domains.Count; i++) result[domains[i].Name] = alloc[i];
        return result;

        void Offer(int i)
        {
            if (alloc[i] - step < domains[i].ReservationPages) return;
            double rho = SharesPerPage(domains[i], alloc[i], k);
            if (rho < double.MaxValue) heap.Enqueue(i, (rho, i));
        }
    }

    /// <summary>rho = S / (P (f + k (1 - f))) with f the VM's active share of <paramref name="pages"/>.</summary>
    public static double SharesPerPage(DomainSnapshot d, long pages, double k)
    {
        if (pages <= 0) return double.MaxValue;
        double f = Math.Clamp((double)d.ActivePages / pages, 0, 1);
        return d.Shares / (pages * (f + k * (1 - f)));
    }
}
