using System.Net;
using System.Net.Http.Json;
using Mercato.Contracts;
using Mercato.Payment;
using Mercato.Payment.Data;
using Mercato.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;

namespace Mercato.Payment.Tests;

public sealed class PaymentFactory : ServiceFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("Payment:DeclineAbove", "500");
    }
}

/// <summary>The payment handlers through Wolverine's real pipeline (transaction, outbox) on a real SQLite file.</summary>
public sealed class PaymentTests(PaymentFactory payment) : IClassFixture<PaymentFactory>
{
    [Fact]
    public async Task Every_operation_in_the_openapi_document_lists_its_answers() =>
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(payment.CreateClient());

    private async Task<T> Invoke<T>(object command)
    {
        await using var scope = payment.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync<T>(command);
    }

    private async Task<List<PaymentResponse>> PaymentsOf(Guid orderId) =>
        (await payment.CreateAdminClient().GetFromJsonAsync<List<PaymentResponse>>($"/api/payments?orderId={orderId}"))!;

    [Fact]
    public async Task Captures_once_per_order_even_when_the_command_is_redelivered()
    {
        var order = Guid.NewGuid();
        var command = new CapturePayment(order, Guid.NewGuid(), 120m, "tok_visa");

        var first = await Invoke<PaymentCaptured>(command);
        var second = await Invoke<PaymentCaptured>(command);

        Assert.Equal(first.PaymentId, second.PaymentId);
        var stored = Assert.Single(await PaymentsOf(order));
        Assert.Equal(("Captured", 120m), (stored.Status, stored.Amount));
    }

    [Fact]
    public async Task The_payment_list_is_newest_first_in_pages_with_the_count_of_all()
    {
        var orders = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            orders.Add(Guid.NewGuid());
            await Invoke<PaymentCaptured>(new CapturePayment(orders[^1], Guid.NewGuid(), 10m + i, "tok_visa"));
            await Task.Delay(5); // ids are ordered by the millisecond they were made in
        }
        var admin = payment.CreateAdminClient();

        var first = await admin.GetAsync("/api/payments?pageSize=2");
        var second = await admin.GetFromJsonAsync<List<PaymentResponse>>("/api/payments?page=2&pageSize=2");

        Assert.Equal([orders[2], orders[1]], (await first.Content.ReadFromJsonAsync<List<PaymentResponse>>())!.Select(p => p.OrderId));
        Assert.Equal(orders[0], second![0].OrderId);
        Assert.True(int.Parse(first.Headers.GetValues("X-Total-Count").Single(), System.Globalization.CultureInfo.InvariantCulture) >= 3);
        await ProblemAssert.NamesField(await admin.GetAsync("/api/payments?page=0"), "page");
        await ProblemAssert.NamesField(await admin.GetAsync("/api/payments?pageSize=501"), "pageSize");
    }

    [Fact]
    public async Task A_capture_asked_again_after_its_refund_is_not_announced_as_captured()
    {
        var order = Guid.NewGuid();
        var command = new CapturePayment(order, Guid.NewGuid(), 30m, "tok_visa");
        await Invoke<PaymentCaptured>(command);
        await Invoke<PaymentRefunded>(new RefundPayment(order, "Order was cancelled."));

        var again = await Invoke<PaymentDeclined>(command);

        Assert.Contains("refunded", again.Reason, StringComparison.Ordinal);
        var stored = Assert.Single(await PaymentsOf(order));
        Assert.Equal(("Refunded", 30m), (stored.Status, stored.Amount));
    }

    [Fact]
    public async Task Two_refunds_of_one_capture_that_read_it_at_once_cannot_both_take_it()
    {
        var order = Guid.NewGuid();
        await Invoke<PaymentCaptured>(new CapturePayment(order, Guid.NewGuid(), 40m, "tok_visa"));
        // Two handlers (the stock failure's refund and the cancellation's) have both read the payment as Captured.
        await using var first = payment.Services.CreateAsyncScope();
        await using var second = payment.Services.CreateAsyncScope();
        var firstDb = first.ServiceProvider.GetRequiredService<PaymentDb>();
        var secondDb = second.ServiceProvider.GetRequiredService<PaymentDb>();
        var seenByFirst = await firstDb.Payments.SingleAsync(p => p.OrderId == order);
        var seenBySecond = await secondDb.Payments.SingleAsync(p => p.OrderId == order);
        seenByFirst.Status = seenBySecond.Status = PaymentStatus.Refunded;

        await firstDb.SaveChangesAsync();

        // The second is refused; Wolverine retries it, and the retry finds the refund made.
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => secondDb.SaveChangesAsync());
        Assert.Equal("Refunded", Assert.Single(await PaymentsOf(order)).Status);
    }

    [Theory]
    [InlineData("tok_visa", true)]
    [InlineData("tok_decline", true)] // known, declined only at capture
    [InlineData("bitcoin", false)]
    [InlineData("tok_", false)]
    [InlineData("tok_a b", false)]
    public async Task Checks_whether_a_payment_method_is_known_without_a_token(string method, bool accepted)
    {
        using var anonymous = payment.CreateClient();

        var check = await anonymous.GetFromJsonAsync<PaymentMethodCheck>($"/api/payments/methods/{Uri.EscapeDataString(method)}");

        Assert.Equal((method, accepted), (check!.Method, check.Accepted));
        Assert.Equal(accepted, check.Reason is null);
    }

    [Fact]
    public async Task A_payment_method_check_answers_HEAD()
    {
        // The gateway lets anonymous callers send HEAD here; the service answered it 405.
        using var anonymous = payment.CreateClient();
        var head = await anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/payments/methods/tok_visa"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
    }

    [Theory]
    [InlineData("tok_decline", 10, "declined")]
    [InlineData("..", 10, "Unknown payment method")] // ordering accepted the order while payment could not check the method
    [InlineData("tok_visa", 500.01, "exceeds")]
    public async Task Declines_by_the_simulated_providers_rules(string method, decimal amount, string reasonPart)
    {
        var order = Guid.NewGuid();

        var declined = await Invoke<PaymentDeclined>(new CapturePayment(order, Guid.NewGuid(), amount, method));

        Assert.Contains(reasonPart, declined.Reason, StringComparison.Ordinal);
        Assert.Equal("Declined", Assert.Single(await PaymentsOf(order)).Status);
    }

    [Fact]
    public async Task Refunds_a_capture_once()
    {
        var order = Guid.NewGuid();
        await Invoke<PaymentCaptured>(new CapturePayment(order, Guid.NewGuid(), 80m, "tok_visa"));

        var refund = await Invoke<PaymentRefunded?>(new RefundPayment(order, "out of stock"));
        var again = await Invoke<PaymentRefunded?>(new RefundPayment(order, "out of stock"));

        Assert.Equal(80m, refund!.Amount);
        Assert.Null(again);
        Assert.Equal("Refunded", Assert.Single(await PaymentsOf(order)).Status);
    }

    [Fact]
    public async Task A_refund_that_overtakes_its_capture_voids_it()
    {
        var order = Guid.NewGuid();

        var refund = await Invoke<PaymentVoided>(new RefundPayment(order, "timed out"));
        var lateCapture = await Invoke<PaymentDeclined>(new CapturePayment(order, Guid.NewGuid(), 50m, "tok_visa"));

        Assert.Equal(order, refund.OrderId);
        Assert.Contains("cancelled", lateCapture.Reason, StringComparison.Ordinal);
        Assert.Equal(("Voided", 0m), (Assert.Single(await PaymentsOf(order)).Status, Assert.Single(await PaymentsOf(order)).Amount));
    }

    [Fact]
    public async Task A_refund_of_a_declined_payment_answers_that_nothing_was_captured()
    {
        var order = Guid.NewGuid();
        await Invoke<PaymentDeclined>(new CapturePayment(order, Guid.NewGuid(), 10m, "tok_decline"));

        var refund = await Invoke<PaymentVoided>(new RefundPayment(order, "payment step timed out"));

        Assert.Equal(order, refund.OrderId);
        Assert.Equal("Declined", Assert.Single(await PaymentsOf(order)).Status);
    }

    [Fact]
    public async Task Only_admins_list_payments()
    {
        await ProblemAssert.IsProblem(await payment.CreateCustomerClient().GetAsync("/api/payments"), HttpStatusCode.Forbidden);
        await ProblemAssert.IsProblem(await payment.CreateClient().GetAsync("/api/payments"), HttpStatusCode.Unauthorized);
        await ProblemAssert.NamesField(await payment.CreateAdminClient().GetAsync("/api/payments?orderId=nope"), "orderId");
    }
}
