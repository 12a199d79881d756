using Mercato.Catalog.Data;
using Mercato.ServiceDefaults.Data;
using Microsoft.EntityFrameworkCore;

namespace Mercato.Catalog;

/// <summary>Demo products, added once to an empty catalog. Their ids are fixed so docs and demos can name them.</summary>
public static class CatalogSeed
{
    private static readonly (string Name, string Description, decimal Price)[] Products =
    [
        ("Espresso Machine", "Fifteen-bar pump espresso machine with steam wand for milk foam.", 249.00m),
        ("Burr Coffee Grinder", "Conical burr grinder with forty grind settings, from espresso to French press.", 89.50m),
        ("Pour-Over Kettle", "Gooseneck kettle with thermometer for precise pour-over coffee.", 45.00m),
        ("French Press", "One-litre borosilicate glass French press with stainless steel filter.", 29.90m),
        ("Ceramic Mug Set", "Set of four stoneware mugs, dishwasher safe, 350 ml each.", 34.00m),
        ("Loose Leaf Tea Sampler", "Twelve organic loose leaf teas: green, black, oolong and herbal.", 24.50m),
        ("Cast Iron Skillet", "Pre-seasoned 26 cm cast iron skillet for stovetop and oven.", 39.99m),
        ("Chef's Knife", "20 cm German steel chef's knife with full tang and riveted handle.", 79.00m),
        ("Bamboo Cutting Board", "Large reversible bamboo cutting board with juice groove.", 27.50m),
        ("Stand Mixer", "Tilt-head stand mixer with 5 litre bowl, whisk, hook and paddle.", 329.00m),
        ("Wireless Headphones", "Over-ear noise cancelling wireless headphones with 30 hour battery.", 199.00m),
        ("Bluetooth Speaker", "Waterproof portable bluetooth speaker with deep bass.", 59.90m),
        ("Mechanical Keyboard", "Tenkeyless mechanical keyboard with hot-swappable tactile switches.", 119.00m),
        ("Ergonomic Mouse", "Vertical wireless mouse that keeps the wrist in a handshake position.", 49.00m),
        ("USB-C Hub", "Seven-in-one USB-C hub: HDMI, ethernet, SD card and three USB ports.", 39.00m),
        ("Standing Desk Mat", "Anti-fatigue mat for standing desks, bevelled edges.", 44.00m),
        ("LED Desk Lamp", "Dimmable LED desk lamp with adjustable colour temperature and USB charging.", 36.50m),
        ("Trail Running Shoes", "Lightweight trail running shoes with grippy lugged outsole.", 129.00m),
        ("Yoga Mat", "Six millimetre non-slip yoga mat with carrying strap.", 32.00m),
        ("Insulated Water Bottle", "Stainless steel bottle keeps drinks cold for 24 hours, hot for 12.", 25.00m),
        ("Camping Tent", "Two-person ultralight camping tent, waterproof, packs to 2 kg.", 189.00m),
        ("Hiking Backpack", "Forty litre hiking backpack with rain cover and hydration sleeve.", 99.00m),
        ("Paperback Novel Bundle", "Five bestselling paperback novels: mystery, science fiction and romance.", 42.00m),
        ("Board Game: Settlers", "Strategy board game of trading and building for three to four players.", 45.50m),
    ];

    /// <summary>The fixed id of the n-th seeded product (1-based).</summary>
    public static Guid ProductId(int number) => new($"00000000-0000-4000-8000-{number:D12}");

    public static async Task SeedAsync(CatalogDb db, TimeProvider time)
    {
        if (await db.Products.AnyAsync())
        {
            return;
        }
        var now = time.GetUtcNow();
        db.Products.AddRange(Products.Select((p, i) => new Product
        {
            Id = ProductId(i + 1),
            Name = p.Name,
            Description = p.Description,
            Price = p.Price,
            CreatedAt = now,
            UpdatedAt = now,
        }));
        try
        {
            await db.SaveChangesAsync();
        }
        catch (DbUpdateException ex) when (DatabaseErrors.IsUniqueViolation(ex))
        {
            // Another instance of the catalog seeded the same file first.
        }
    }
}
