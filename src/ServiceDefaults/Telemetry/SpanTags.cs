using System.Diagnostics;

namespace Mercato.ServiceDefaults.Telemetry;

/// <summary>The spec's span tags, named once (OpenTelemetry style: lower-case, dotted).</summary>
public static class SpanTags
{
    public const string OrderId = "order.id";
    public const string UserId = "user.id";
    public const string ItemCount = "order.item_count";
    public const string PaymentResult = "payment.result";
    public const string Error = "error";
    public const string ErrorMessage = "error.message";

    /// <summary>Marks the current span failed, with the message (the spec's error flag).</summary>
    public static void RecordError(string message)
    {
        var span = Activity.Current;
        span?.SetStatus(ActivityStatusCode.Error, message);
        span?.SetTag(Error, true);
        span?.SetTag(ErrorMessage, message);
    }
}
