using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mercato.Payment.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class StatusConcurrencyToken : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {

        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {

        }
    }
}
