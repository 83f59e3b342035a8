//! `store-edge pickups …`: the click-and-collect orders from the command
//! line (read-only; works while the service runs), for store IT when no
//! tablet is at hand.

use clap::Subcommand;

use super::{print_json, CliError};
use crate::pickup::order::{self, Filter, Order};
use crate::store::ReadConn;
use crate::telemetry::out::outln;

#[derive(Debug, Subcommand)]
pub enum PickupsCommand {
    /// List orders: all (newest change first), by state, due, overdue, or a search.
    List {
        /// received, picking, ready, handed_over, partially_handed_over,
        /// refused, no_show, cancelled, due (within pickup.reminder_before_h)
        /// or overdue.
        #[arg(long)]
        state: Option<String>,
        /// Order id or customer name containing this text.
        #[arg(long)]
        search: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One order with everything the store knows about it (never the code hash).
    Show { order_id: String },
}

pub fn run(
    conn: &ReadConn,
    reminder_before: std::time::Duration,
    cmd: PickupsCommand,
) -> Result<(), CliError> {
    match cmd {
        PickupsCommand::List {
            state,
            search,
            limit,
            json,
        } => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let filter = Filter::from_request(
                state.as_deref(),
                search.as_deref(),
                now,
                reminder_before.as_secs() as i64,
            )
            .map_err(CliError::Runtime)?;
            let orders = order::list(conn, &filter, limit)?;
            if json {
                let views: Vec<_> = orders.iter().map(Order::view).collect();
                return print_json(&views);
            }
            outln!(
                "{:<20} {:<22} {:<24} {:<22} ITEMS",
                "ORDER",
                "STATE",
                "CUSTOMER",
                "PICKUP BY"
            )?;
            for o in &orders {
                let customer = &o.document.customer.display_name;
                outln!(
                    "{:<20} {:<22} {:<24} {:<22} {}",
                    o.order_id,
                    o.state.as_str(),
                    customer,
                    o.pickup_by(),
                    o.lines().iter().map(|l| l.quantity).sum::<i64>()
                )?;
            }
            eprintln!("{} orders", orders.len());
            Ok(())
        }
        PickupsCommand::Show { order_id } => match order::get(conn, &order_id)? {
            Some(o) => print_json(&o.view()),
            None => Err(CliError::Runtime(format!(
                "no pickup order {order_id} (see `store-edge pickups list --search …`)"
            ))),
        },
    }
}
