using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Memvisor.Daemon.Metrics;
using Memvisor.Daemon.Qmp;
using Memvisor.Daemon.Vms;

namespace Memvisor.Tests.Daemon;

/// <summary>Monitors that are not QEMU's, and scrapers: a monitor that floods events or answers other ids is given up on within one timeout, an impossible size is refused, and the metrics endpoint answers any Host header.</summary>
public sealed class QmpHostileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("memvisor-qmp-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A fake monitor: greets, acknowledges qmp_capabilities, then runs the behaviour for each later command line.
    private string Serve(Action<StreamWriter, string> onCommand, CancellationToken stop)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N")[..8] + ".sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        new Thread(() =>
        {
            using (listener)
            using (stop.Register(listener.Dispose))
                try
                {
                    using var client = listener.Accept();
                    using var stream = new NetworkStream(client);
                    using var reader = new StreamReader(stream);
                    using var writer = new StreamWriter(stream) { AutoFlush = true, NewLine = "\r\n" };
                    writer.WriteLine("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}");
                    string? line = reader.ReadLine();
                    writer.WriteLine("{\"return\": {}, \"id\": \"memvisor-1\"}");
                    while (!stop.IsCancellationRequested && (line = reader.ReadLine()) is not null) onCommand(writer, line);
                }
                catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
                {
                }
        }) { IsBackground = true }.Start();
        return path;
    }

    [Fact]
    public void A_monitor_that_sends_events_without_end_is_given_up_on_within_one_timeout()
    {
        using var stop = new CancellationTokenSource();
        string path = Serve((w, _) =>
        {
            while (!stop.IsCancellationRequested)
            {
                w.WriteLine("{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 1}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}");
                w.WriteLine("{\"return\": {}, \"id\": \"someone-else\"}");
                Thread.Sleep(100);
            }
        }, stop.Token);
        using var qmp = QmpClient.Connect(path, TimeSpan.FromSeconds(2));
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<QmpException>(() => qmp.Execute("query-balloon"));
        Assert.Contains("did not answer within 2 s", e.Message);
        // Within one timeout, give or take a loaded machine's scheduling; a deadline per message would never end.
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.5, 6);
        stop.Cancel();
    }

    [Fact]
    public void A_monitor_that_reports_an_impossible_size_is_an_unreachable_VM_in_a_sentence()
    {
        using var stop = new CancellationTokenSource();
        string path = Serve((w, line) =>
        {
            string id = line[(line.IndexOf("\"id\":\"", StringComparison.Ordinal) + 6)..].Split('"')[0];
            string answer = line.Contains("query-balloon", StringComparison.Ordinal) ? "{\"actual\": -4096}"
                : line.Contains("query-memory-size-summary", StringComparison.Ordinal) ? "{\"base-memory\": 268435456}"
                : line.Contains("qom-list", StringComparison.Ordinal) ? "[]"
                : line.Contains("query-name", StringComparison.Ordinal) ? "{}" : "[]";
            w.WriteLine($"{{\"return\": {answer}, \"id\": \"{id}\"}}");
        }, stop.Token);
        using var vm = new QemuVm(path, TimeSpan.FromSeconds(2), 1);
        var e = Assert.Throws<VmUnreachableException>(() => vm.Read());
        Assert.Contains("query-balloon's actual as -4096 bytes, which no VM holds", e.Message);
        Assert.DoesNotContain("..", e.Message);
        stop.Cancel();
    }

    [Fact]
    public async Task The_metrics_endpoint_answers_any_host_header_and_refuses_bad_addresses_in_sentences()
    {
        var metrics = new DaemonMetrics();
        using var server = new MetricsServer($"127.0.0.1:{Memvisor.Tests.Support.FreePort.Next()}", metrics);
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{server.Endpoint.Port}/metrics");
        request.Headers.Host = "prometheus.example";
        var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("memvisor_steps_total 0", await response.Content.ReadAsStringAsync());
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString().Replace("\"", "", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{server.Endpoint.Port}/else")).StatusCode);
        Assert.Equal(IPAddress.Parse("::1"), MetricsServer.Parse("[::1]:9100").Address);
        Assert.Equal(IPAddress.Any, MetricsServer.Parse("0.0.0.0:9100").Address);
        Assert.Contains("in brackets", Assert.Throws<ArgumentException>(() => MetricsServer.Parse("::1:9100")).Message);
        Assert.Contains("port from 1 to 65535", Assert.Throws<ArgumentException>(() => MetricsServer.Parse("localhost:99999")).Message);
        Assert.Contains("not a host name", Assert.Throws<ArgumentException>(() => MetricsServer.Parse("nosuchhost.invalid:9100")).Message);
    }

}
