using System.Globalization;
using System.Text;

namespace Memvisor.Daemon.Recording;

/// <summary>recording.csv: every sample of every VM as read, in MiB (empty where the guest had not reported yet).</summary>
public static class RecordingCsv
{
    public const string Header = "vm,time_s,actual_mib,used_mib,available_mib,free_mib,major_faults,swap_in_mib,swap_out_mib,rss_mib";

    public static string Write(Recording r)
    {
        var s = new StringBuilder(Header).Append('\n');
        foreach (var vm in r.Vms)
            foreach (var x in vm.Samples)
                s.Append(CultureInfo.InvariantCulture, $"{Quote(vm.Name)},{x.TimeS},{Mib(x.ActualBytes)},{Mib(x.UsedBytes)},{Mib(x.AvailableBytes)},{Mib(x.FreeBytes)},{x.MajorFaults},{Mib(x.SwapInBytes)},{Mib(x.SwapOutBytes)},{Mib(x.RssBytes)}\n");
        return s.ToString();
    }

    private static string Mib(long? bytes) => bytes is { } b ? Math.Round(b / 1048576.0, 2).ToString(CultureInfo.InvariantCulture) : "";

    public static string Quote(string v) => v.IndexOfAny([',', '"', '\n', '\r']) < 0 ? v : $"\"{v.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
}
