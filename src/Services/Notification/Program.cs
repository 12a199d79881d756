using System.Security.Claims;
using Mercato.Notification;
using Mercato.Notification.Data;
using Mercato.ServiceDefaults;
using Mercato.ServiceDefaults.Auth;
using Mercato.ServiceDefaults.Data;
using Mercato.ServiceDefaults.Messaging;
using Microsoft.EntityFrameworkCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMessaging<NotificationDb>("notification");
builder.Services.AddSingleton<INotificationSender, LogNotificationSender>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapGet("/api/notifications", async (ClaimsPrincipal user, NotificationDb db, CancellationToken ct) =>
{
    var customerId = Guid.Parse(user.FindFirstValue(MercatoAuth.SubjectClaim)!);
    return await db.Notifications.AsNoTracking().Where(n => n.CustomerId == customerId)
        .OrderByDescending(n => n.CreatedAtTicks).Take(100)
        .Select(n => new { n.Id, n.Type, n.OrderId, n.Message, n.CreatedAt, n.SentAt })
        .ToListAsync(ct);
}).WithTags("Notification");
app.MapDeadLetterEndpoints("/api/notifications");

await app.MigrateDatabaseAsync<NotificationDb>();
await app.RunAsync();

public partial class Program;
