using System.Net;
using System.Text;

namespace Memvisor.Daemon.Metrics;

/// <summary>
/// Serves <see cref="DaemonMetrics"/> over HTTP for Prometheus to scrape: GET /metrics gives the text format, any
/// other path 404. It listens on HOST:PORT (":PORT" is every address) from its own thread until disposed.
/// </summary>
public sealed class MetricsServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly DaemonMetrics _metrics;
    private readonly Thread _thread;

    public MetricsServer(string hostPort, DaemonMetrics metrics)
    {
        _metrics = metrics;
        var (host, port) = Parse(hostPort);
        _listener.Prefixes.Add($"http://{host}:{port}/");
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException e)
        {
            throw new InvalidOperationException($"The metrics endpoint could not listen on {hostPort}: {e.Message}.");
        }
        _thread = new Thread(Serve) { IsBackground = true, Name = "metrics" };
        _thread.Start();
    }

    /// <summary>HOST:PORT or :PORT as HttpListener's prefix host and a port; an ArgumentException in a sentence otherwise.</summary>
    public static (string Host, int Port) Parse(string hostPort)
    {
        int colon = hostPort.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(hostPort.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new ArgumentException($"'{hostPort}' is not an address to listen on: give :PORT or HOST:PORT, with a port from 1 to 65535.");
        string host = hostPort[..colon];
        return (host.Length == 0 ? "*" : host, port);
    }

    private void Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = _listener.GetContext();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                var response = context.Response;
                bool found = context.Request.Url?.AbsolutePath is "/metrics" or "/";
                response.StatusCode = found ? 200 : 404;
                response.ContentType = found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8";
                var body = Encoding.UTF8.GetBytes(found ? _metrics.Render() : "Memvisor's daemon serves /metrics only.\n");
                response.ContentLength64 = body.Length;
                response.OutputStream.Write(body);
                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The scraper went away mid-answer; the next one is served.
            }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}
