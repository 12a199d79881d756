using System.Net;
using System.Net.Sockets;

namespace Mercato.Testing;

public static class LoopbackPorts
{
    /// <summary>
    /// A free port below the kernel's ephemeral range, as the AppHost's own defaults are (8080, 8081, 8101–8105). A port
    /// the kernel handed out is only free until it hands it out again: between this pick and the service binding it,
    /// any process that listens on port 0 (every service's HTTP endpoint does) or dials out can take it, and a peer can
    /// even get a socket connected to itself while the service is down. Wolverine's TCP sender does not survive talking
    /// to the wrong listener: it reads an answer that is not its protocol's and marks the batch neither sent nor failed,
    /// so the messages stay in the outbox. One CI run lost every message from ordering to payment in the embedded
    /// system with exactly those signs (the outbox kept them, nothing was sent, nothing failed).
    /// </summary>
    public static int Free()
    {
        var ephemeralStart = EphemeralRangeStart.Value;
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(20_000, ephemeralStart);
            lock (PortsInUse)
            {
                if (!PortsInUse.Add(port))
                {
                    continue;
                }
            }
            if (IsFree(port))
            {
                return port;
            }
        }
        throw new InvalidOperationException($"No free port between 20000 and {ephemeralStart}.");
    }

    /// <summary>Ports handed out in this test run: two systems of one run never get the same one.</summary>
    private static readonly HashSet<int> PortsInUse = [];

    private static readonly Lazy<int> EphemeralRangeStart = new(ReadEphemeralRangeStart);

    private static int ReadEphemeralRangeStart()
    {
        const string range = "/proc/sys/net/ipv4/ip_local_port_range";
        return File.Exists(range) && int.TryParse(File.ReadAllText(range).Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[0], out var start) && start > 21_000
            ? start
            : 32_768;
    }

    /// <summary>Nothing listens on the port on either loopback address.</summary>
    public static bool IsFree(int port) => CanListen(IPAddress.Loopback, port) && CanListen(IPAddress.IPv6Loopback, port);

    private static bool CanListen(IPAddress address, int port)
    {
        try
        {
            using var listener = new TcpListener(address, port);
            listener.Start();
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable or SocketError.AccessDenied)
        {
            // No IPv6 loopback on this machine counts as free; anything bound there does not.
            return ex.SocketErrorCode == SocketError.AddressNotAvailable;
        }
    }
}
