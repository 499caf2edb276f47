using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Memvisor.Daemon.Metrics;

/// <summary>
/// Serves <see cref="DaemonMetrics"/> over HTTP for Prometheus to scrape: GET /metrics (or /) gives the text format,
/// any other path 404. A plain TCP listener with a minimal HTTP/1.1 answer (one request a connection, then close), so
/// it answers whatever Host header a scraper sends. ":PORT" listens on every address.
/// </summary>
public sealed class MetricsServer : IDisposable
{
    private const int MaxRequestBytes = 8192;
    // At most this many scrapes at once, each done within the deadline (a client that trickles bytes is cut off).
    private const int MaxConnections = 16;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);
    private int _open;
    private readonly TcpListener _listener;
    private readonly DaemonMetrics _metrics;
    private readonly Thread _thread;
    private volatile bool _stopped;

    /// <summary>Listens at once; an ArgumentException for an address that is not one, a SocketException where it cannot listen.</summary>
    public MetricsServer(string hostPort, DaemonMetrics metrics)
    {
        _metrics = metrics;
        var (address, port) = Parse(hostPort);
        _listener = new TcpListener(address, port);
        if (address.Equals(IPAddress.IPv6Any)) _listener.Server.DualMode = true;
        _listener.Start();
        Endpoint = (IPEndPoint)_listener.LocalEndpoint;
        _thread = new Thread(Serve) { IsBackground = true, Name = "metrics" };
        _thread.Start();
    }

    public IPEndPoint Endpoint { get; }

    /// <summary>":PORT", "HOST:PORT", "IPv4:PORT" or "[IPv6]:PORT" as an address and port; an ArgumentException in a sentence otherwise.</summary>
    public static (IPAddress Address, int Port) Parse(string hostPort)
    {
        int colon = hostPort.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(hostPort.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new ArgumentException($"'{hostPort}' is not an address to listen on: give :PORT, HOST:PORT or [IPv6]:PORT, with a port from 1 to 65535.");
        string host = hostPort[..colon];
        if (host.Length == 0) return (Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any, port);
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) throw new ArgumentException($"'{hostPort}' is not an address to listen on: write an IPv6 address in brackets, [::1]:{port}.");
        if (IPAddress.TryParse(host, out var ip)) return (ip, port);
        try
        {
            var found = Dns.GetHostAddresses(host);
            return found.Length > 0 ? (found[0], port) : throw new ArgumentException($"'{host}' has no address to listen on.");
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"'{host}' is not a host name of this machine ({e.Message.TrimEnd('.')}).");
        }
    }

    private void Serve()
    {
        while (!_stopped)
        {
            TcpClient client;
            try
            {
                client = _listener.AcceptTcpClient();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            if (Interlocked.Increment(ref _open) > MaxConnections)
            {
                Interlocked.Decrement(ref _open);
                client.Dispose();
                continue;
            }
            new Thread(() =>
            {
                try
                {
                    Answer(client);
                }
                finally
                {
                    Interlocked.Decrement(ref _open);
                }
            }) { IsBackground = true, Name = "metrics-answer" }.Start();
        }
    }

    private void Answer(TcpClient client)
    {
        using (client)
        {
            try
            {
                var end = DateTime.UtcNow + Deadline;
                client.SendTimeout = (int)Deadline.TotalMilliseconds;
                var stream = client.GetStream();
                var request = new MemoryStream();
                var buffer = new byte[1024];
                while (request.Length < MaxRequestBytes && !EndsHeaders(request))
                {
                    int left = (int)(end - DateTime.UtcNow).TotalMilliseconds;
                    if (left <= 0) return;
                    client.ReceiveTimeout = left;
                    int n = stream.Read(buffer);
                    if (n == 0) break;
                    request.Write(buffer, 0, n);
                }
                string first = Encoding.ASCII.GetString(request.ToArray()).Split('\n')[0].Trim();
                var parts = first.Split(' ');
                string path = parts.Length >= 2 ? parts[1].Split('?')[0] : "";
                bool found = parts[0] is "GET" or "HEAD" && path is "/metrics" or "/";
                byte[] body = Encoding.UTF8.GetBytes(found ? _metrics.Render() : "Memvisor's daemon serves /metrics only.\n");
                string head = $"HTTP/1.1 {(found ? "200 OK" : "404 Not Found")}\r\nContent-Type: {(found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")}\r\n" +
                              $"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n";
                stream.Write(Encoding.ASCII.GetBytes(head));
                if (parts[0] != "HEAD") stream.Write(body);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // The scraper went away or said nothing in time; the next one is served.
            }
        }
    }

    private static bool EndsHeaders(MemoryStream s)
    {
        var b = s.GetBuffer();
        long n = s.Length;
        return n >= 4 && b[n - 4] == '\r' && b[n - 3] == '\n' && b[n - 2] == '\r' && b[n - 1] == '\n'
            || n >= 2 && b[n - 2] == '\n' && b[n - 1] == '\n';
    }

    public void Dispose()
    {
        _stopped = true;
        _listener.Stop();
    }
}
