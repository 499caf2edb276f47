using System.Globalization;
using System.Text;
using Memvisor.Daemon.Control;

namespace Memvisor.Daemon.Recording;

/// <summary>decisions.csv: each action the daemon's policy took on a real host, when (seconds from its start), what it asked, what was set and what became of it.</summary>
public sealed class DecisionsCsv
{
    public const string Header = "time_s,vm,kind,asked,set,result";
    private readonly StringBuilder _text = new(Header + "\n");

    public void Add(double timeS, IReadOnlyList<ActionOutcome> outcomes)
    {
        foreach (var o in outcomes)
        {
            bool memory = o.Kind is "mem-set" or "hot-add";
            string Value(double v) => (memory ? Math.Round(v / 1048576.0, 2) : v).ToString(CultureInfo.InvariantCulture);
            _text.Append(CultureInfo.InvariantCulture, $"{Math.Round(timeS, 3)},{RecordingCsv.Quote(o.Vm)},{o.Kind},{Value(o.Asked)},{(o.Set is { } s ? Value(s) : "")},{DecisionLog.Name(o.Result)}\n");
        }
    }

    /// <summary>The file's text; memory in MiB, KSM's rate in pages per second.</summary>
    public override string ToString() => _text.ToString();
}
