namespace Memvisor.Policy.Snapshot;

/// <summary>
/// What a snapshot must hold before a policy may decide on it: counts that are not negative and not absurd, free
/// memory within the host, ranges whose lower end is not above their upper end, one entry per domain name, and
/// miss-ratio curves a policy can read. Each problem names its JSON path.
/// </summary>
public static class SnapshotCheck
{
    /// <summary>No page count may exceed 2^40 pages (4 PiB), so sums over every domain cannot overflow.</summary>
    public const long MaxPages = 1L << 40;

    /// <summary>At most 65,536 domains in one snapshot.</summary>
    public const int MaxDomains = 1 << 16;

    /// <summary>A miss-ratio curve has at most 1,048,576 buckets.</summary>
    public const int MaxMrcBuckets = 1 << 20;

    /// <summary>The first problem found, as (JSON path, sentence); null for a snapshot a policy can decide on.</summary>
    public static (string Path, string Message)? FirstProblem(HostSnapshot host)
    {
        string? why;
        if ((why = Pages(host.TimeNs, max: long.MaxValue)) is not null) return ("$.time_ns", why);
        if (host.TotalPages <= 0 || host.TotalPages > MaxPages) return ("$.total_pages", $"{host.TotalPages} is not a host's page count (1 to {MaxPages}).");
        if ((why = Pages(host.FreePages)) is not null) return ("$.free_pages", why);
        if (host.FreePages > host.TotalPages) return ("$.free_pages", $"{host.FreePages} free pages is more than the host's {host.TotalPages}.");
        if (!double.IsFinite(host.SharingScanRate) || host.SharingScanRate < 0) return ("$.sharing_scan_rate", $"{host.SharingScanRate} is not a scan rate (pages per second, 0 or more).");
        if (host.Domains is null) return ("$.domains", "the list of domains is missing.");
        if (host.Domains.Count > MaxDomains) return ("$.domains", $"{host.Domains.Count} domains is more than the {MaxDomains} a snapshot may hold.");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < host.Domains.Count; i++)
        {
            var d = host.Domains[i];
            string at = $"$.domains[{i}]";
            if (d is null) return (at, "the domain is null.");
            if (string.IsNullOrEmpty(d.Name)) return ($"{at}.name", "a domain needs a name.");
            if (!names.Add(d.Name)) return ($"{at}.name", $"the domain name '{d.Name}' appears twice; a snapshot has one entry per domain.");
            if (DomainProblem(d) is var (field, message)) return ($"{at}.{field}", message);
        }
        return null;
    }

    private static (string Field, string Message)? DomainProblem(DomainSnapshot d)
    {
        (string, long)[] pages =
        [
            ("tot_pages", d.TotPages), ("target_pages", d.TargetPages), ("static_max_pages", d.StaticMaxPages), ("memory_pages", d.MemoryPages),
            ("dynamic_min_pages", d.DynamicMinPages), ("dynamic_max_pages", d.DynamicMaxPages), ("current_pages", d.CurrentPages),
            ("mem_free_pages", d.MemFreePages), ("mem_available_pages", d.MemAvailablePages), ("committed_as_pages", d.CommittedAsPages),
            ("floor_pages", d.FloorPages), ("active_pages", d.ActivePages), ("hotplug_requested_pages", d.HotplugRequestedPages),
            ("reservation_pages", d.ReservationPages), ("limit_pages", d.LimitPages), ("minimum_pages", d.MinimumPages), ("maximum_pages", d.MaximumPages),
            ("major_faults", d.MajorFaults), ("swap_ins", d.SwapIns), ("shares", d.Shares),
        ];
        foreach (var (field, value) in pages)
            if (Pages(value) is { } why) return (field, why);
        if (d.DomId < 0) return ("dom_id", $"{d.DomId} is not a domain id.");
        if (d.DynamicMinPages > d.DynamicMaxPages) return ("dynamic_min_pages", $"dynamic_min_pages ({d.DynamicMinPages}) is above dynamic_max_pages ({d.DynamicMaxPages}).");
        if (d.MinimumPages > d.MaximumPages && d.MaximumPages > 0) return ("minimum_pages", $"minimum_pages ({d.MinimumPages}) is above maximum_pages ({d.MaximumPages}).");
        if (d.ReservationPages > d.LimitPages && d.LimitPages > 0) return ("reservation_pages", $"reservation_pages ({d.ReservationPages}) is above limit_pages ({d.LimitPages}).");
        if (d.BufferPercent is < 0 or > 2000) return ("buffer_percent", $"{d.BufferPercent} is not a memory buffer (0 to 2000 percent).");
        if (d.Weight is < 0 or > 10000) return ("weight", $"{d.Weight} is not a memory weight (0 to 10000).");
        if (!double.IsFinite(d.StallNs) || d.StallNs < 0) return ("stall_ns", $"{d.StallNs} is not a stall time (ns, 0 or more).");
        if (d.Mrc is { } c)
        {
            if (c.BucketPages <= 0 || c.BucketPages > MaxPages) return ("mrc.bucket_pages", $"{c.BucketPages} is not a bucket width (1 page or more).");
            if (c.Hits is null) return ("mrc.hits", "the histogram is missing.");
            if (c.Hits.Count > MaxMrcBuckets) return ("mrc.hits", $"{c.Hits.Count} buckets is more than the {MaxMrcBuckets} a curve may have.");
            for (int b = 0; b < c.Hits.Count; b++)
                if (!double.IsFinite(c.Hits[b]) || c.Hits[b] < 0) return ($"mrc.hits[{b}]", $"{c.Hits[b]} is not a count of accesses (0 or more).");
            if (!double.IsFinite(c.Cold) || c.Cold < 0) return ("mrc.cold", $"{c.Cold} is not a count of accesses (0 or more).");
            if (c.WindowNs < 0) return ("mrc.window_ns", $"{c.WindowNs} is not a time window (ns, 0 or more).");
        }
        return null;
    }

    private static string? Pages(long value, long max = MaxPages) =>
        value < 0 ? $"{value} is negative; counts are 0 or more."
        : value > max ? $"{value} is more than {max}, the most a snapshot may hold." : null;
}
