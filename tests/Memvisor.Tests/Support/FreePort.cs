using System.Net;
using System.Net.Sockets;

namespace Memvisor.Tests.Support;

/// <summary>A TCP port on the loopback interface that nothing listens on at this moment.</summary>
public static class FreePort
{
    public static int Next()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
