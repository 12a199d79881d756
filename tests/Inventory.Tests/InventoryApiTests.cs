using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Mercato.Inventory;
using Mercato.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Mercato.Inventory.Tests;

/// <summary>Inventory on a real SQLite file; the catalog it asks about products is a fixed list.</summary>
public sealed class InventoryFactory : ServiceFactory<Program>
{
    public HashSet<Guid> CatalogProducts { get; } = [];

    public CatalogStandIn Catalog { get; }

    public InventoryFactory() => Catalog = new(CatalogProducts.Contains);

    protected override void ConfigureTestServices(IServiceCollection services) =>
        services.AddHttpClient<CatalogClient>().ConfigurePrimaryHttpMessageHandler(Catalog.CreateHandler);
}

public sealed class InventoryApiTests(InventoryFactory inventory) : IClassFixture<InventoryFactory>
{
    [Fact]
    public async Task Every_operation_in_the_openapi_document_lists_its_answers() =>
        await OpenApiAssert.EveryOperationDocumentsItsAnswersAsync(inventory.CreateClient());

    [Fact]
    public async Task While_its_database_is_locked_a_stock_change_is_503_with_retry_after_not_a_conflict()
    {
        var product = KnownProduct();
        await using var impatient = inventory.WithImpatientDatabase("inventory");
        var admin = impatient.CreateClient();
        admin.DefaultRequestHeaders.Authorization = inventory.CreateAdminClient().DefaultRequestHeaders.Authorization;
        (await admin.PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 4 })).EnsureSuccessStatusCode();

        await using (await inventory.LockDatabaseAsync("inventory"))
        {
            var refused = await admin.PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 9 });

            await ProblemAssert.IsProblem(refused, HttpStatusCode.ServiceUnavailable);
            Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter?.Delta);
        }

        Assert.Equal(4, (await admin.GetFromJsonAsync<JsonElement>($"/api/inventory/items/{product}")).GetProperty("onHand").GetInt32());
    }

    private Guid KnownProduct()
    {
        var id = Guid.NewGuid();
        inventory.CatalogProducts.Add(id);
        return id;
    }

    [Fact]
    public async Task Admin_sets_on_hand_and_anyone_signed_in_reads_it()
    {
        var product = KnownProduct();

        var set = await inventory.CreateAdminClient().PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 42 });
        var read = await inventory.CreateCustomerClient().GetFromJsonAsync<StockResponse>($"/api/inventory/items/{product}");
        var lowered = await inventory.CreateAdminClient().PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 7 });

        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal(new StockResponse(product, 42, 0, 42), read);
        Assert.Equal(new StockResponse(product, 7, 0, 7), await lowered.Content.ReadFromJsonAsync<StockResponse>());
    }

    [Fact]
    public async Task Customers_cannot_set_stock_and_anonymous_callers_cannot_read_it()
    {
        var product = KnownProduct();

        var customer = await inventory.CreateCustomerClient().PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 5 });
        var anonymous = await inventory.CreateClient().GetAsync($"/api/inventory/items/{product}");
        var afterwards = await inventory.CreateAdminClient().GetAsync($"/api/inventory/items/{product}");

        await ProblemAssert.IsProblem(customer, HttpStatusCode.Forbidden);
        await ProblemAssert.IsProblem(anonymous, HttpStatusCode.Unauthorized);
        await ProblemAssert.IsProblem(afterwards, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("""{"onHand":-1}""", "onHand")]
    [InlineData("""{"onHand":1000001}""", "onHand")]
    [InlineData("""{}""", "onHand")]
    [InlineData("""{"onHand":"ten"}""", "onHand")]
    [InlineData("""{"onHand":1.5}""", "onHand")]
    [InlineData("""{"onHand":""", "body")]
    public async Task Bad_stock_values_are_400_and_nothing_is_written(string json, string field)
    {
        var product = KnownProduct();

        var response = await inventory.CreateAdminClient().PutAsync($"/api/inventory/items/{product}",
            new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        await ProblemAssert.NamesField(response, field);
        await ProblemAssert.IsProblem(await inventory.CreateAdminClient().GetAsync($"/api/inventory/items/{product}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Non_guid_product_id_is_400()
    {
        var response = await inventory.CreateAdminClient().GetAsync("/api/inventory/items/abc");
        await ProblemAssert.NamesField(response, "productId");
    }

    [Fact]
    public async Task Stock_for_a_product_the_catalog_does_not_know_is_404()
    {
        var response = await inventory.CreateAdminClient().PutAsJsonAsync($"/api/inventory/items/{Guid.NewGuid()}", new { onHand = 1 });
        await ProblemAssert.IsProblem(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Catalog_outage_is_a_clear_503_not_a_500()
    {
        var product = KnownProduct();
        inventory.Catalog.Down = true;
        try
        {
            var response = await inventory.CreateAdminClient().PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 1 });
            await ProblemAssert.IsProblem(response, HttpStatusCode.ServiceUnavailable);
            Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
        }
        finally
        {
            inventory.Catalog.Down = false;
        }
    }

    [Fact]
    public async Task Database_refuses_reservations_above_on_hand()
    {
        var product = KnownProduct();
        await inventory.CreateAdminClient().PutAsJsonAsync($"/api/inventory/items/{product}", new { onHand = 3 });

        using var scope = inventory.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<Data.InventoryDb>();
        var item = db.StockItems.Single(i => i.ProductId == product);
        item.Reserved = 4;

        await Assert.ThrowsAsync<Microsoft.EntityFrameworkCore.DbUpdateException>(() => db.SaveChangesAsync());
    }
}

/// <summary>The saga's inventory steps through Wolverine's real pipeline on a real SQLite file.</summary>
public sealed class ReservationTests(InventoryFactory inventory) : IClassFixture<InventoryFactory>
{
    private async Task<Guid> ProductWithStock(int onHand)
    {
        var id = Guid.NewGuid();
        inventory.CatalogProducts.Add(id);
        (await inventory.CreateAdminClient().PutAsJsonAsync($"/api/inventory/items/{id}", new { onHand })).EnsureSuccessStatusCode();
        return id;
    }

    private async Task<T> Invoke<T>(object command)
    {
        await using var scope = inventory.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Wolverine.IMessageBus>().InvokeAsync<T>(command);
    }

    private async Task Send(object command)
    {
        await using var scope = inventory.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<Wolverine.IMessageBus>().InvokeAsync(command);
    }

    private async Task<StockResponse> Stock(Guid product) =>
        (await inventory.CreateAdminClient().GetFromJsonAsync<StockResponse>($"/api/inventory/items/{product}"))!;

    [Fact]
    public async Task Reserve_then_commit_takes_units_out_of_stock_exactly_once()
    {
        var product = await ProductWithStock(10);
        var order = Guid.NewGuid();
        var reserve = new Contracts.ReserveStock(order, [new Contracts.OrderLine(product, 3, 1m)]);

        await Invoke<Contracts.StockReserved>(reserve);
        await Invoke<Contracts.StockReserved>(reserve);
        Assert.Equal(new StockResponse(product, 10, 3, 7), await Stock(product));

        await Send(new Contracts.CommitStock(order));
        await Send(new Contracts.CommitStock(order));
        Assert.Equal(new StockResponse(product, 7, 0, 7), await Stock(product));
    }

    [Fact]
    public async Task Release_gives_units_back_once()
    {
        var product = await ProductWithStock(5);
        var order = Guid.NewGuid();
        await Invoke<Contracts.StockReserved>(new Contracts.ReserveStock(order, [new Contracts.OrderLine(product, 5, 1m)]));

        var released = await Invoke<Contracts.StockReleased>(new Contracts.ReleaseStock(order));
        var again = await Invoke<Contracts.StockReleased>(new Contracts.ReleaseStock(order));

        Assert.Equal(new StockResponse(product, 5, 0, 5), await Stock(product));
        // Ordering hears that the compensation is done, also from a repeat (which had nothing left to give back).
        Assert.Equal([order, order], [released.OrderId, again.OrderId]);
    }

    [Fact]
    public async Task A_reservation_arriving_after_its_release_is_refused()
    {
        var product = await ProductWithStock(4);
        var order = Guid.NewGuid();

        await Send(new Contracts.ReleaseStock(order));
        var late = await Invoke<Contracts.StockReservationFailed>(new Contracts.ReserveStock(order, [new Contracts.OrderLine(product, 2, 1m)]));

        Assert.Contains("cancelled", late.Reason, StringComparison.Ordinal);
        Assert.Equal(new StockResponse(product, 4, 0, 4), await Stock(product));
    }

    [Fact]
    public async Task Choreographed_reservation_waits_for_the_announcement_and_reserves_once_paid()
    {
        var product = await ProductWithStock(6);
        var order = Guid.NewGuid();

        await Send(new Contracts.OrderSubmitted(order, Guid.NewGuid(), [new Contracts.OrderLine(product, 2, 1m)], 2m, "tok_visa", DateTimeOffset.UtcNow));
        await Invoke<Contracts.StockReserved>(new Contracts.PaymentCaptured(order, Guid.NewGuid(), 2m));
        Assert.Equal(new StockResponse(product, 6, 2, 4), await Stock(product));

        await Send(new Contracts.OrderConfirmed(order, Guid.NewGuid(), 2m, [new Contracts.OrderLine(product, 2, 1m)], DateTimeOffset.UtcNow));
        Assert.Equal(new StockResponse(product, 4, 0, 4), await Stock(product));
    }

    [Fact]
    public async Task All_lines_or_none()
    {
        var plenty = await ProductWithStock(100);
        var scarce = await ProductWithStock(1);

        var failed = await Invoke<Contracts.StockReservationFailed>(new Contracts.ReserveStock(Guid.NewGuid(),
            [new Contracts.OrderLine(plenty, 10, 1m), new Contracts.OrderLine(scarce, 2, 1m)]));
        var unknown = await Invoke<Contracts.StockReservationFailed>(new Contracts.ReserveStock(Guid.NewGuid(),
            [new Contracts.OrderLine(Guid.NewGuid(), 1, 1m)]));

        Assert.Contains(scarce.ToString(), failed.Reason, StringComparison.Ordinal);
        Assert.Equal(new StockResponse(plenty, 100, 0, 100), await Stock(plenty));
        Assert.Equal(new StockResponse(scarce, 1, 0, 1), await Stock(scarce));
        Assert.Contains("Insufficient", unknown.Reason, StringComparison.Ordinal);
    }
}
