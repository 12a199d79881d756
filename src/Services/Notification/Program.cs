using System.Security.Claims;
using Mercato.Notification;
using Mercato.Notification.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Http;
using Mercato.ServiceDefaults.Messaging;
using Microsoft.EntityFrameworkCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMessaging<NotificationDb>("notification");
builder.Services.AddSingleton<INotificationSender, LogNotificationSender>();

var app = builder.Build();
app.MapDefaultEndpoints();
// Newest first, a page at a time (100 unless pageSize says otherwise), with the count of all the caller's: the newest 100
// alone gave no sign that more existed.
app.MapGet("/api/notifications", async (int? page, int? pageSize, ClaimsPrincipal user, NotificationDb db, HttpResponse response, CancellationToken ct) =>
{
    if (Paging.Problems(page, pageSize, 500) is { Count: > 0 } errors)
    {
        return Results.ValidationProblem(errors);
    }
    var customerId = Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!);
    var mine = db.Notifications.AsNoTracking().Where(n => n.CustomerId == customerId);
    response.Headers[Paging.TotalCountHeader] = (await mine.CountAsync(ct)).ToString(System.Globalization.CultureInfo.InvariantCulture);
    int size = pageSize ?? 100, skip = ((page ?? 1) - 1) * size;
    return Results.Ok(await mine.OrderByDescending(n => n.CreatedAtTicks).ThenByDescending(n => n.Id).Skip(skip).Take(size)
        .Select(n => new NotificationResponse(n.Id, n.Type, n.OrderId, n.Message, n.CreatedAt, n.SentAt))
        .ToListAsync(ct));
}).WithTags("Notification").Produces<List<NotificationResponse>>().ProducesValidationProblem();
app.MapDeadLetterEndpoints("/api/notifications");

await app.MigrateDatabaseAsync<NotificationDb>();
await app.RunAsync();

public partial class Program;
