using System.Diagnostics;
using System.Text.RegularExpressions;
using Memvisor.Report;
using Memvisor.Sim.Lab;
using Memvisor.Sim.Scenarios;

namespace Memvisor.Tests.Report;

/// <summary>The reports open in headless Chromium with every chart drawn with data; screenshots go to the test output's screenshots/ folder.</summary>
public partial class ReportRenderTests
{
    private const string Yaml = """
        name: render
        seed: 3
        duration: 20s
        host:
          memory: 768MiB
          hypervisor: kvm
          dom0: { memory: 128MiB }
          sharing: { scan_rate: 5000/s }
          paging: { policy: clock }
        policy: { name: squeezed, interval: 5s }
        domains:
          - name: a
            memory: 384MiB
            dynamic_min: 128MiB
            dynamic_max: 384MiB
            allocation: on-demand
            workload: { kind: steady, working_set: 160MiB, rate: 4000/s }
          - name: b
            memory: 256MiB
            dynamic_min: 128MiB
            dynamic_max: 256MiB
            workload: { kind: zipf, working_set: 128MiB, rate: 4000/s, skew: 1.0 }
        """;

    [Fact]
    public void The_run_report_and_the_comparison_render_every_chart_with_data_in_chromium()
    {
        var scenario = ScenarioLoader.Parse(Yaml, "render.yaml");
        var runs = PolicyLab.Run(scenario, ["static", "squeezed"], null, 2);
        var outcomes = runs.Select(r => PolicyOutcome.From(r.Result)).ToList();
        string dir = Path.Combine(Path.GetTempPath(), $"memvisor-render-{Environment.ProcessId}");
        using (var output = Memvisor.Report.Output.OutputDirectory.Prepare(dir, "compare")) CompareWriter.WriteAll(output, scenario, runs, outcomes);
        try
        {
            string shots = Path.Combine(AppContext.BaseDirectory, "screenshots");
            Directory.CreateDirectory(shots);
            foreach (var (page, shot) in new[] { ("report.html", "compare.png"), ("squeezed/report.html", "run.png") })
            {
                string url = new Uri(Path.Combine(dir, page)).AbsoluteUri;
                string dom = Chromium($"--dump-dom {url}");
                var body = BodyAttributes().Match(dom);
                Assert.True(body.Success, $"{page}: the page's check script did not run; Chromium gave {dom.Length} characters.");
                int charts = int.Parse(body.Groups["n"].Value), rendered = int.Parse(body.Groups["ok"].Value);
                Assert.True(charts >= (page == "report.html" ? 4 : 8), $"{page}: only {charts} charts.");
                Assert.Equal(charts, rendered);
                // Every chart has as many laid-out series as it was drawn with.
                foreach (Match m in ChartAttributes().Matches(dom))
                    Assert.Equal(m.Groups["series"].Value, m.Groups["rendered"].Value);
                string png = Path.Combine(shots, shot);
                File.Delete(png);
                Chromium($"--window-size=1000,2400 --screenshot={png} {url}");
                var bytes = File.ReadAllBytes(png);
                Assert.True(bytes.Length > 20_000, $"{shot}: {bytes.Length} bytes is too small for a page of charts.");
                Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_sweep_s_report_renders_its_charts_in_chromium()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"memvisor-render-sweep-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "render.yaml"), Yaml.Replace("duration: 20s", "duration: 4s"));
            File.WriteAllText(Path.Combine(dir, "s.yaml"), "name: s\nscenario: render.yaml\naxes:\n  policy.name: [static, squeezed]\n  host.memory: [768MiB, 1GiB]\n");
            var spec = Memvisor.Sim.Sweeps.SweepLoader.LoadFile(Path.Combine(dir, "s.yaml"));
            var records = Memvisor.Sim.Sweeps.SweepPlan.Points(spec).Select(p => new Memvisor.Sim.Sweeps.SweepPointRecord(p.Index, p.Hash,
                [.. p.Values.Select(v => new Memvisor.Sim.Sweeps.SweepValue(v.Key, v.Value))], PolicyOutcome.From(new Memvisor.Sim.Engine.Simulation(p.Scenario).Run()))).ToList();
            string results = Path.Combine(dir, "results");
            using (var output = Memvisor.Report.Output.OutputDirectory.Prepare(results, "sweep")) SweepWriter.WriteResults(output, spec, records);
            string dom = Chromium($"--dump-dom {new Uri(Path.Combine(results, "report.html")).AbsoluteUri}");
            var body = BodyAttributes().Match(dom);
            Assert.True(body.Success, $"the sweep report's check script did not run; Chromium gave {dom.Length} characters.");
            // Three charts of every point, and stall and peak memory against host.memory with a line per policy.
            Assert.Equal(("5", "5"), (body.Groups["n"].Value, body.Groups["ok"].Value));
            Assert.Equal(["2", "2", "4", "4", "4"], ChartAttributes().Matches(dom).Select(m => m.Groups["series"].Value).Order());
            foreach (Match m in ChartAttributes().Matches(dom)) Assert.Equal(m.Groups["series"].Value, m.Groups["rendered"].Value);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_fit_sweeps_report_draws_its_grids_over_two_axes_in_chromium()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"memvisor-render-grid-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            Memvisor.Tests.Support.TinyScenario.Write(dir);
            File.WriteAllText(Path.Combine(dir, "s.yaml"), "name: g\nscenario: tiny.yaml\naxes:\n  host.memory: [512MiB, 768MiB]\n  seed: [1, 2, 3]\nfit: { domain: a, max: 2 }\n");
            string target = Path.Combine(dir, "out");
            var (code, _, err) = Memvisor.Tests.Support.ConsoleCapture.Run(() => Memvisor.Cli.Commands.SweepCommand.Run(Path.Combine(dir, "s.yaml"), target, jobs: 2, quiet: true));
            Assert.True(code == 0, err);
            string dom = Chromium($"--dump-dom {new Uri(Path.Combine(target, "results", "report.html")).AbsoluteUri}");
            var body = BodyAttributes().Match(dom);
            Assert.True(body.Success, $"the sweep report's check script did not run; Chromium gave {dom.Length} characters.");
            // Stall, peak memory and density against each axis (6 charts of one line), the grids of stall and density by
            // host.memory and seed (6 cells each) and the bars of the 6 points (3).
            Assert.Equal(("11", "11"), (body.Groups["n"].Value, body.Groups["ok"].Value));
            Assert.Equal(["1", "1", "1", "1", "1", "1", "6", "6", "6", "6", "6"], ChartAttributes().Matches(dom).Select(m => m.Groups["series"].Value).Order());
            foreach (Match m in ChartAttributes().Matches(dom)) Assert.Equal(m.Groups["series"].Value, m.Groups["rendered"].Value);
            Assert.Contains("Density (a that fit) by host.memory and seed", dom);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Chromium(string arguments)
    {
        string exe = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Chromium is not installed: run ./scripts/test, which installs the Debian package chromium.");
        var psi = new ProcessStartInfo(exe, $"--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=3000 {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "Chromium did not finish within two minutes.");
        _ = stderr.Result;
        return output;
    }

    [GeneratedRegex("<body[^>]*data-charts=\"(?<n>\\d+)\"[^>]*data-charts-rendered=\"(?<ok>\\d+)\"")]
    private static partial Regex BodyAttributes();

    [GeneratedRegex("<svg class=\"chart\" data-series=\"(?<series>\\d+)\"[^>]*data-rendered=\"(?<rendered>\\d+)\"")]
    private static partial Regex ChartAttributes();
}
