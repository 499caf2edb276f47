using Memvisor.Policy;

namespace Memvisor.Sim.Policies;

/// <summary>What the policy daemon did over a run: its decisions and its actions by kind (refused ones apart).</summary>
public sealed record PolicyLog
{
    public string Name { get; init; } = "";
    public long IntervalNs { get; init; }
    public long Decisions { get; set; }
    public SortedDictionary<string, long> Actions { get; } = new(StringComparer.Ordinal);
    public long Refused { get; set; }

    public void Record(PolicyActionKind kind, bool ok)
    {
        string key = kind switch
        {
            PolicyActionKind.MemSet => "mem_set",
            PolicyActionKind.MarkUncooperative => "mark_uncooperative",
            PolicyActionKind.HotAdd => "hot_add",
            PolicyActionKind.SharingScanRate => "sharing_scan_rate",
            PolicyActionKind.PagingTarget => "paging_target",
            _ => kind.ToString(),
        };
        Actions[key] = Actions.GetValueOrDefault(key) + 1;
        if (!ok) Refused++;
    }
}
