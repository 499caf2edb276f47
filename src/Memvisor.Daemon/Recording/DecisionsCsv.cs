using System.Globalization;
using System.Text;
using Memvisor.Daemon.Control;

namespace Memvisor.Daemon.Recording;

/// <summary>decisions.csv: each action the daemon's policy took on a real host, when (seconds from its start), the VM and its domain in the recorded scenario, what it asked, what was set and what became of it.</summary>
public sealed class DecisionsCsv
{
    public const string Header = "time_s,vm,domain,kind,asked,set,result";
    private readonly List<(double TimeS, ActionOutcome Outcome)> _rows = [];

    public void Add(double timeS, IReadOnlyList<ActionOutcome> outcomes)
    {
        foreach (var o in outcomes) _rows.Add((timeS, o));
    }

    /// <summary>The file's text, each VM's domain as <paramref name="domainOf"/> names it (empty for one not recorded); memory in MiB, KSM's rate in pages per second.</summary>
    public string Write(IReadOnlyDictionary<string, string> domainOf)
    {
        var text = new StringBuilder(Header).Append('\n');
        foreach (var (t, o) in _rows)
        {
            bool memory = o.Kind is "mem-set" or "hot-add";
            string Value(double v) => (memory ? Math.Round(v / 1048576.0, 2) : v).ToString(CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture,
                $"{Math.Round(t, 3)},{RecordingCsv.Quote(o.Vm)},{RecordingCsv.Quote(domainOf.GetValueOrDefault(o.Vm, ""))},{o.Kind},{Value(o.Asked)},{(o.Set is { } s ? Value(s) : "")},{DecisionLog.Name(o.Result)}\n");
        }
        return text.ToString();
    }
}
