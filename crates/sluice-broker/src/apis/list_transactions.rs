//! ListTransactions: transactional ids, filtered by state, producer id and age.

use super::util::s;
use crate::server::now_ms;
use crate::state::Broker;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use std::sync::Arc;

const STATES: [&str; 6] = ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"];

pub(super) fn handle(broker: &Arc<Broker>, req: ListTransactionsRequest, _version: i16) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    resp.unknown_state_filters = req.state_filters.iter().filter(|f| !STATES.contains(&f.as_str())).cloned().collect();
    let now = now_ms();
    for (id, meta) in broker.txn.list() {
        let state_ok =
            req.state_filters.is_empty() || req.state_filters.iter().any(|f| f.as_str() == meta.state.name());
        let pid_ok =
            req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&ProducerId(meta.producer_id));
        let age_ok = req.duration_filter < 0 || (meta.start_ms >= 0 && now - meta.start_ms >= req.duration_filter);
        let pattern_ok = req.transactional_id_pattern.as_ref().is_none_or(|p| id.contains(p.as_str()));
        if !(state_ok && pid_ok && age_ok && pattern_ok) {
            continue;
        }
        let mut t = TransactionState::default();
        t.transactional_id = TransactionalId(s(id));
        t.producer_id = ProducerId(meta.producer_id);
        t.transaction_state = s(meta.state.name());
        resp.transaction_states.push(t);
    }
    resp
}
