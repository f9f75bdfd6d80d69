//! A pooled connection lent to one operation.
//!
//! sqlx pings a connection as it goes back to its pool, to resynchronise
//! one whose user stopped reading halfway; that ping has no timeout, so on
//! a server that stopped answering it would hold the pool's slot for as
//! long as the server is gone. A connection whose operation was cut off
//! (by the response timeout, or a caller that went away) is therefore
//! closed instead, and only one whose operation ran to its end goes back.

use sqlx_core::pool::PoolConnection;
use sqlx_mysql::{MySql, MySqlConnection};
use std::ops::{Deref, DerefMut};

pub(super) struct Lease {
    conn: PoolConnection<MySql>,
    finished: bool,
}

impl Lease {
    pub fn new(conn: PoolConnection<MySql>) -> Lease {
        Lease {
            conn,
            finished: false,
        }
    }

    /// The operation ran to its end (with a result or an error): the
    /// connection may go back to the pool (which pings it first and closes
    /// it if it broke).
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Deref for Lease {
    type Target = MySqlConnection;
    fn deref(&self) -> &MySqlConnection {
        &self.conn
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut MySqlConnection {
        &mut self.conn
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}
