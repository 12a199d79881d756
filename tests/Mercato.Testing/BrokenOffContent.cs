using System.Net.Http.Headers;
using System.Text;

namespace Mercato.Testing;

/// <summary>A response body that gives its first bytes, then fails as a connection lost mid-answer does.</summary>
public static class BrokenOffContent
{
    public static HttpContent Json(string start) =>
        new StreamContent(new BreaksOff(Encoding.UTF8.GetBytes(start))) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };

    private sealed class BreaksOff(byte[] start) : MemoryStream(start)
    {
        public override int Read(byte[] buffer, int offset, int count) =>
            Position < Length ? base.Read(buffer, offset, count) : throw new IOException("The response ended prematurely.");

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position < Length ? base.ReadAsync(buffer, cancellationToken) : throw new IOException("The response ended prematurely.");
    }
}
