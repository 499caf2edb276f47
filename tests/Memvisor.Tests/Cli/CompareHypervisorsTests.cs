using System.Text.Json;
using Memvisor.Cli;
using Memvisor.Cli.Commands;
using Memvisor.Tests.Support;

namespace Memvisor.Tests.Cli;

/// <summary>memvisor compare --hypervisors: one run per hypervisor, named by it, with what a host lacks turned off and said.</summary>
[Collection(ConsoleCapture.Collection)]
public sealed class CompareHypervisorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-cmphv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Each_hypervisor_runs_the_same_guests_with_its_own_policy_and_the_comparison_says_what_a_host_lacks()
    {
        string scenario = TinyScenario.Write(_dir, y => y.Replace("dom0: { memory: 128MiB } }", "dom0: { memory: 128MiB }, sharing: { scan_rate: 1000/s } }"));
        string target = Path.Combine(_dir, "cmp");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(scenario, null, null, target, jobs: 2, quiet: true, hypervisorList: "xen,hyperv"));
        Assert.True(code == ExitCodes.Ok, err);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "compare.json")));
        var runs = json.RootElement.GetProperty("policies").EnumerateArray()
            .Select(r => (r.GetProperty("name").GetString(), r.GetProperty("hypervisor").GetString(), r.GetProperty("policy").GetString())).ToList();
        Assert.Equal([("xen", "xen", "squeezed"), ("hyperv", "hyperv", "hyperv")], runs);
        var note = Assert.Single(json.RootElement.GetProperty("notes").EnumerateArray());
        Assert.Contains("Hyper-V has no page sharing", note.GetString());
        using var xen = JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "xen", "summary.json")));
        Assert.Equal("xen", xen.RootElement.GetProperty("host").GetProperty("hypervisor").GetString());
        using var hyperv = JsonDocument.Parse(File.ReadAllText(Path.Combine(target, "hyperv", "summary.json")));
        Assert.Equal("hyperv", hyperv.RootElement.GetProperty("host").GetProperty("hypervisor").GetString());
    }

    [Theory]
    [InlineData("static", "xen", "give one")]
    [InlineData(null, "xen,vmware", "'vmware' is not a hypervisor")]
    public void Bad_arguments_are_refused_before_anything_runs(string? policies, string hypervisors, string message)
    {
        string target = Path.Combine(_dir, "cmp");
        var (code, _, err) = ConsoleCapture.Run(() => CompareCommand.Run(TinyScenario.Write(_dir), policies, null, target, jobs: 1, quiet: true, hypervisorList: hypervisors));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains(message, err);
        Assert.False(Directory.Exists(target));
    }
}
