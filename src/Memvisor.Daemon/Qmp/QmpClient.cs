using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Memvisor.Daemon.Qmp;

/// <summary>
/// A client of one QEMU's monitor over its QMP Unix socket (QEMU's docs/interop/qmp-spec.rst): it reads the greeting,
/// leaves capabilities negotiation with qmp_capabilities, then sends one command at a time, each with an id, and
/// reads up to its answer, setting aside the asynchronous events QEMU sends in between. Every wait is bounded by the
/// timeout; a monitor that does not answer in time is a <see cref="QmpException"/>, as is one that closes.
/// </summary>
public sealed class QmpClient : IDisposable
{
    // A QMP message is one JSON object; a larger line than this is not one QEMU sends.
    private const int MaxLine = 16 << 20;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly TimeSpan _timeout;
    private readonly byte[] _buffer = new byte[65536];
    private int _start, _end;
    private long _nextId;

    private QmpClient(Socket socket, TimeSpan timeout)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _timeout = timeout;
    }

    /// <summary>The socket's path, for messages.</summary>
    public required string Path { get; init; }
    /// <summary>QEMU's version as its greeting gave it (major.minor.micro).</summary>
    public string Version { get; private set; } = "";
    /// <summary>The process id of the QEMU at the other end of the socket (the kernel's SO_PEERCRED), or null where it cannot be read.</summary>
    public int? PeerPid
    {
        get
        {
            // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: SOL_SOCKET (1), SO_PEERCRED (17) on Linux.
            Span<byte> cred = stackalloc byte[12];
            try
            {
                return _socket.GetRawSocketOption(1, 17, cred) == 12 && BitConverter.ToInt32(cred) is > 0 and var pid ? pid : null;
            }
            catch (SocketException)
            {
                return null;
            }
        }
    }

    /// <summary>Events QEMU sent while commands were answered (name and data), oldest first, up to 256.</summary>
    public Queue<JsonObject> Events { get; } = new();

    /// <summary>Connects to the monitor at <paramref name="path"/> and leaves capabilities negotiation.</summary>
    public static QmpClient Connect(string path, TimeSpan timeout)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            throw new QmpException($"The QEMU monitor at {path} could not be reached: {(e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.#} s" : Clause(e.Message))}.");
        }
        var client = new QmpClient(socket, timeout) { Path = path };
        try
        {
            var greeting = client.ReadMessage(DateTime.UtcNow + timeout);
            if (greeting["QMP"] is not JsonObject qmp)
                throw new QmpException($"{path} is not a QMP monitor: it greeted with {Excerpt(greeting.ToJsonString())}.");
            if (qmp["version"]?["qemu"] is JsonObject v)
                client.Version = $"{v["major"]}.{v["minor"]}.{v["micro"]}";
            client.Execute("qmp_capabilities");
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Runs <paramref name="command"/> with <paramref name="arguments"/>; its "return" value, or a QmpException with QEMU's error class and description.</summary>
    public JsonNode Execute(string command, JsonObject? arguments = null)
    {
        string id = $"memvisor-{++_nextId}";
        var request = new JsonObject { ["execute"] = command, ["id"] = id };
        if (arguments is not null) request["arguments"] = arguments;
        try
        {
            _stream.Write(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"));
        }
        catch (IOException e)
        {
            throw new QmpException($"The QEMU monitor at {Path} closed before {command} could be sent: {Clause(e.Message)}.");
        }
        // One deadline for the whole command: a monitor that sends events or other answers without end does not hold it up.
        var deadline = DateTime.UtcNow + _timeout;
        while (true)
        {
            var message = ReadMessage(deadline);
            if (message["event"] is not null)
            {
                if (Events.Count == 256) Events.Dequeue();
                Events.Enqueue(message);
                continue;
            }
            if (message["id"]?.GetValue<string>() != id) continue;
            if (message["error"] is JsonObject error)
                throw new QmpException($"QEMU ({Path}) refused {command}: {error["class"]}: {error["desc"]}.");
            return message["return"] ?? throw new QmpException($"QEMU ({Path}) answered {command} without a return: {Excerpt(message.ToJsonString())}.");
        }
    }

    // One message: a line of JSON (QMP ends each with CRLF), read by the deadline.
    private JsonObject ReadMessage(DateTime deadline)
    {
        var line = new MemoryStream();
        while (true)
        {
            int nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (nl >= 0)
            {
                line.Write(_buffer, _start, nl - _start);
                _start = nl + 1;
                string text = Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r');
                if (text.Length == 0) continue;
                try
                {
                    return JsonNode.Parse(text) as JsonObject ?? throw new QmpException($"QEMU ({Path}) sent {Excerpt(text)}, which is not a QMP message.");
                }
                catch (JsonException e)
                {
                    throw new QmpException($"QEMU ({Path}) sent a line that is not JSON ({e.Message}): {Excerpt(text)}.");
                }
            }
            line.Write(_buffer, _start, _end - _start);
            _start = _end = 0;
            if (line.Length > MaxLine) throw new QmpException($"QEMU ({Path}) sent a line longer than {MaxLine >> 20} MiB.");
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new QmpException($"The QEMU monitor at {Path} did not answer within {_timeout.TotalSeconds:0.#} s.");
            int n;
            try
            {
                // A blocking read with the socket's own timeout: it needs no thread-pool thread to time out, so a
                // starved pool (many tests, many VMs at once) does not stretch the deadline.
                _socket.ReceiveTimeout = Math.Max(1, (int)Math.Ceiling(left.TotalMilliseconds));
                n = _stream.Read(_buffer);
            }
            catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock })
            {
                throw new QmpException($"The QEMU monitor at {Path} did not answer within {_timeout.TotalSeconds:0.#} s.");
            }
            catch (IOException e)
            {
                throw new QmpException($"The QEMU monitor at {Path} closed: {Clause(e.Message)}.");
            }
            catch (ObjectDisposedException)
            {
                throw new QmpException($"The connection to the QEMU monitor at {Path} was closed.");
            }
            if (n == 0) throw new QmpException($"The QEMU monitor at {Path} closed (QEMU exited or another client took it).");
            _end = n;
        }
    }

    // A message to go inside a sentence: without its own final period.
    internal static string Clause(string message) => message.TrimEnd().TrimEnd('.');

    private static string Excerpt(string s) => s.Length <= 200 ? $"'{s}'" : $"'{s[..200]}...'";

    public void Dispose() => _stream.Dispose();
}
