using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Catalog.Data.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "Products",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    Name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Description = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    Price = table.Column<decimal>(type: "TEXT", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Products", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Products_Name",
                table: "Products",
                column: "Name");

            // Full-text index (FTS5) over name and description, kept in step by triggers.
            migrationBuilder.Sql("""
                CREATE VIRTUAL TABLE ProductSearch USING fts5(
                    ProductId UNINDEXED, Name, Description, tokenize = 'porter unicode61 remove_diacritics 2');
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER Products_SearchInsert AFTER INSERT ON Products BEGIN
                    INSERT INTO ProductSearch (ProductId, Name, Description) VALUES (new.Id, new.Name, new.Description);
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER Products_SearchUpdate AFTER UPDATE OF Name, Description ON Products BEGIN
                    DELETE FROM ProductSearch WHERE ProductId = old.Id;
                    INSERT INTO ProductSearch (ProductId, Name, Description) VALUES (new.Id, new.Name, new.Description);
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER Products_SearchDelete AFTER DELETE ON Products BEGIN
                    DELETE FROM ProductSearch WHERE ProductId = old.Id;
                END;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TRIGGER IF EXISTS Products_SearchInsert;");
            migrationBuilder.Sql("DROP TRIGGER IF EXISTS Products_SearchUpdate;");
            migrationBuilder.Sql("DROP TRIGGER IF EXISTS Products_SearchDelete;");
            migrationBuilder.Sql("DROP TABLE IF EXISTS ProductSearch;");
            migrationBuilder.DropTable(
                name: "Products");
        }
    }
}
