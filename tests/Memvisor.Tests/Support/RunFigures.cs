using Memvisor.Report;
using Memvisor.Sim.Engine;

namespace Memvisor.Tests.Support;

/// <summary>Figures tests read off a finished run: its summary.json bytes, and a memory node's accesses over the run's last seconds.</summary>
public static class RunFigures
{
    /// <summary>The bytes summary.json would hold.</summary>
    public static byte[] SummaryBytes(RunResult r)
    {
        using var ms = new MemoryStream();
        SummaryWriter.Write(ms, r.Summary);
        return ms.ToArray();
    }

    /// <summary>Reads and writes of memory node <paramref name="node"/> over the run's last <paramref name="seconds"/>, from the time series.</summary>
    public static long NodeAccessesOverLast(RunResult r, int node, int seconds)
    {
        var ts = r.Timeseries;
        var columns = ts.Columns.ToList();
        int reads = columns.IndexOf($"node{node}_reads"), writes = columns.IndexOf($"node{node}_writes");
        Assert.True(reads >= 0 && writes >= 0, $"the time series has no columns for node {node}");
        var last = ts.Rows[^1];
        var from = ts.Rows.Last(row => row.TimeNs <= last.TimeNs - seconds * 1_000_000_000L);
        return last.Values[reads]!.Value - from.Values[reads]!.Value + last.Values[writes]!.Value - from.Values[writes]!.Value;
    }
}
