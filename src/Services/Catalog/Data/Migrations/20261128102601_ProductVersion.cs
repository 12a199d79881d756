using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Catalog.Data.Migrations
{
    /// <inheritdoc />
    public partial class ProductVersion : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "Version",
                table: "Products",
                type: "INTEGER",
                nullable: false,
                // Products from before versions start at 1, as new ones do.
                defaultValue: 1);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Version",
                table: "Products");
        }
    }
}
