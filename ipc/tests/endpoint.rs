//! Behaviour of the synchronous endpoint state machine: call/recv/reply in
//! both orders, badges, non-blocking send, receive timeouts, and every way a
//! partner can die.

use ipc::IpcError;
use ipc::cap::{CapRegistry, CapToken, IpcLimits, IpcPermissions, ProcessId};
use ipc::endpoint::{Action, CpuId, IpcState, RecvMode, ThreadRef, ThreadState};
use ipc::message::SmallMessage;

const BADGE: u64 = 7;

struct World {
    state: IpcState,
    server_process: ProcessId,
    client_process: ProcessId,
    server: ThreadRef,
    client: ThreadRef,
    server_token: CapToken,
    client_token: CapToken,
}

fn message(word: u64) -> SmallMessage {
    SmallMessage::new(0, 0x0100, 0, [word, word + 1, word + 2, word + 3])
}

fn world(client_cpu: u32) -> World {
    let registry = CapRegistry::new(1 << 16, 1_000_000_000).unwrap();
    let mut state = IpcState::new(registry, 64);
    let server_process = state.create_process().unwrap();
    let client_process = state.create_process().unwrap();
    let server = state.create_thread(server_process, CpuId(0)).unwrap();
    let client = state
        .create_thread(client_process, CpuId(client_cpu))
        .unwrap();
    let (_, server_token) = state.create_endpoint(server_process, 64).unwrap();
    let send_only = IpcPermissions {
        can_receive: false,
        can_share: false,
        ..IpcPermissions::all(64)
    };
    let client_token = state
        .grant(
            server_process,
            server_token,
            client_process,
            send_only,
            IpcLimits::NONE,
            Some(BADGE),
            0,
        )
        .unwrap();
    World {
        state,
        server_process,
        client_process,
        server,
        client,
        server_token,
        client_token,
    }
}

#[test]
fn call_then_recv_then_reply() {
    let mut w = world(1);
    let actions = w
        .state
        .call(w.client, w.client_token, message(10), 0)
        .unwrap();
    assert_eq!(
        actions.as_slice(),
        [Action::Block {
            thread: w.client,
            deadline: None
        }]
    );
    assert!(matches!(
        w.state.thread_state(w.client),
        Some(ThreadState::Calling { .. })
    ));

    let actions = w
        .state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    assert_eq!(
        actions.as_slice(),
        [Action::Deliver {
            from: w.client,
            to: w.server,
            message: message(10),
            badge: BADGE
        }]
    );
    assert_eq!(w.state.serving(w.server), Some(w.client));
    assert_eq!(
        w.state.thread_state(w.client),
        Some(ThreadState::AwaitingReply { server: w.server })
    );
    assert_eq!(
        w.state.recv(w.server, w.server_token, RecvMode::Block, 0),
        Err(IpcError::InvalidArgument),
        "must reply before receiving again"
    );

    let actions = w.state.reply(w.server, message(20)).unwrap();
    assert_eq!(
        actions.as_slice(),
        [
            Action::Deliver {
                from: w.server,
                to: w.client,
                message: message(20),
                badge: 0
            },
            Action::Wake {
                thread: w.client,
                status: Ok(())
            },
        ]
    );
    assert_eq!(w.state.thread_state(w.client), Some(ThreadState::Running));
    assert_eq!(
        w.state.reply(w.server, message(20)),
        Err(IpcError::InvalidCapability)
    );
}

#[test]
fn recv_then_call_switches_directly_on_the_same_cpu_only() {
    for (client_cpu, expect_switch) in [(0, true), (1, false)] {
        let mut w = world(client_cpu);
        let actions = w
            .state
            .recv(w.server, w.server_token, RecvMode::Block, 0)
            .unwrap();
        assert_eq!(
            actions.as_slice(),
            [Action::Block {
                thread: w.server,
                deadline: None
            }]
        );
        let actions = w
            .state
            .call(w.client, w.client_token, message(1), 0)
            .unwrap();
        assert_eq!(
            actions.last() == Some(&Action::SwitchTo { thread: w.server }),
            expect_switch,
            "{actions:?}"
        );
        assert!(actions.contains(&Action::Wake {
            thread: w.server,
            status: Ok(())
        }));
        assert!(actions.contains(&Action::Block {
            thread: w.client,
            deadline: None
        }));
    }
}

#[test]
fn reply_recv_serves_the_next_caller() {
    let mut w = world(0);
    let second = w.state.create_thread(w.client_process, CpuId(0)).unwrap();
    w.state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    w.state.call(second, w.client_token, message(2), 0).unwrap();
    w.state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    let actions = w
        .state
        .reply_recv(w.server, w.server_token, message(9), RecvMode::Block, 0)
        .unwrap();
    assert_eq!(
        actions.as_slice(),
        [
            Action::Deliver {
                from: w.server,
                to: w.client,
                message: message(9),
                badge: 0
            },
            Action::Wake {
                thread: w.client,
                status: Ok(())
            },
            Action::Deliver {
                from: second,
                to: w.server,
                message: message(2),
                badge: BADGE
            },
        ]
    );
    // Nobody else queued: the server blocks and hands the CPU to its caller.
    let actions = w
        .state
        .reply_recv(w.server, w.server_token, message(8), RecvMode::Block, 0)
        .unwrap();
    assert_eq!(actions.last(), Some(&Action::SwitchTo { thread: second }));
    assert!(actions.contains(&Action::Block {
        thread: w.server,
        deadline: None
    }));
}

#[test]
fn nonblocking_send_and_recv() {
    let mut w = world(1);
    assert_eq!(
        w.state.send(w.client, w.client_token, message(1), 0),
        Err(IpcError::WouldBlock)
    );
    assert_eq!(
        w.state
            .recv(w.server, w.server_token, RecvMode::NonBlocking, 0),
        Err(IpcError::WouldBlock)
    );
    w.state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    let actions = w
        .state
        .send(w.client, w.client_token, message(1), 0)
        .unwrap();
    assert_eq!(
        actions.as_slice(),
        [
            Action::Deliver {
                from: w.client,
                to: w.server,
                message: message(1),
                badge: BADGE
            },
            Action::Wake {
                thread: w.server,
                status: Ok(())
            },
        ]
    );
    assert_eq!(w.state.serving(w.server), None, "a send expects no reply");
    assert_eq!(w.state.thread_state(w.client), Some(ThreadState::Running));
}

#[test]
fn rights_are_enforced() {
    let mut w = world(1);
    assert_eq!(
        w.state.recv(w.client, w.client_token, RecvMode::Block, 0),
        Err(IpcError::PermissionDenied)
    );
    assert_eq!(
        w.state
            .call(w.client, CapToken(0xdead_0000_0001), message(1), 0),
        Err(IpcError::InvalidCapability)
    );
    let tiny = IpcPermissions {
        max_message_size: 16,
        ..IpcPermissions::all(16)
    };
    let small = w
        .state
        .derive(
            w.server_process,
            w.server_token,
            tiny,
            IpcLimits::NONE,
            None,
            0,
        )
        .unwrap();
    assert_eq!(
        w.state.call(w.server, small, message(1), 0),
        Err(IpcError::MessageTooLarge)
    );
}

#[test]
fn receive_timeout_fires_once_and_only_when_due() {
    let mut w = world(1);
    let actions = w
        .state
        .recv(w.server, w.server_token, RecvMode::Until(1_000), 0)
        .unwrap();
    assert_eq!(
        actions.as_slice(),
        [Action::Block {
            thread: w.server,
            deadline: Some(1_000)
        }]
    );
    assert!(w.state.timeout(w.server, 999).is_empty(), "not due yet");
    let actions = w.state.timeout(w.server, 1_000);
    assert_eq!(
        actions.as_slice(),
        [Action::Wake {
            thread: w.server,
            status: Err(IpcError::Timeout)
        }]
    );
    assert!(w.state.timeout(w.server, 2_000).is_empty(), "already woken");
    // The server is no longer queued: a call now waits for it.
    let actions = w
        .state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    assert_eq!(
        actions.as_slice(),
        [Action::Block {
            thread: w.client,
            deadline: None
        }]
    );
}

#[test]
fn stale_timer_after_delivery_does_nothing() {
    let mut w = world(1);
    w.state
        .recv(w.server, w.server_token, RecvMode::Until(500), 0)
        .unwrap();
    w.state
        .call(w.client, w.client_token, message(1), 10)
        .unwrap();
    assert!(w.state.timeout(w.server, 600).is_empty());
    assert_eq!(w.state.serving(w.server), Some(w.client));
}

#[test]
fn server_thread_death_while_holding_a_call_wakes_the_caller() {
    let mut w = world(1);
    w.state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    w.state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    let actions = w.state.on_thread_death(w.server);
    assert_eq!(
        actions,
        [Action::Wake {
            thread: w.client,
            status: Err(IpcError::ProcessNotFound)
        }]
    );
    assert_eq!(w.state.thread_state(w.server), None);
    assert_eq!(w.state.thread_state(w.client), Some(ThreadState::Running));
}

#[test]
fn caller_death_is_seen_by_the_server() {
    let mut w = world(1);
    let second = w.state.create_thread(w.client_process, CpuId(1)).unwrap();
    // One caller dies while queued, another while its call is being served.
    w.state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    w.state.call(second, w.client_token, message(2), 0).unwrap();
    assert!(w.state.on_thread_death(w.client).is_empty());
    let actions = w
        .state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    assert!(matches!(actions[0], Action::Deliver { from, .. } if from == second));
    assert!(w.state.on_thread_death(second).is_empty());
    assert_eq!(
        w.state.reply(w.server, message(3)),
        Err(IpcError::InvalidCapability)
    );
    // The server can go on receiving.
    assert_eq!(
        w.state
            .recv(w.server, w.server_token, RecvMode::NonBlocking, 0),
        Err(IpcError::WouldBlock)
    );
}

#[test]
fn server_process_death_wakes_queued_callers_and_revokes_their_caps() {
    let mut w = world(1);
    let second = w.state.create_thread(w.client_process, CpuId(1)).unwrap();
    w.state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    w.state.call(second, w.client_token, message(2), 0).unwrap();
    let mut actions = w.state.on_process_death(w.server_process).unwrap();
    actions.sort_by_key(|action| match action {
        Action::Wake { thread, .. } => thread.0,
        _ => u32::MAX,
    });
    assert_eq!(
        actions,
        [
            Action::Wake {
                thread: w.client,
                status: Err(IpcError::ProcessNotFound)
            },
            Action::Wake {
                thread: second,
                status: Err(IpcError::ProcessNotFound)
            },
        ]
    );
    assert_eq!(w.state.thread_state(w.server), None);
    assert_eq!(
        w.state.call(w.client, w.client_token, message(1), 0),
        Err(IpcError::InvalidCapability)
    );
    assert_eq!(w.state.registry().live_objects(), 0);
    assert_eq!(
        w.state.on_process_death(w.server_process),
        Err(IpcError::ProcessNotFound)
    );
}

#[test]
fn endpoint_owner_death_wakes_foreign_receivers() {
    let mut w = world(1);
    // The client process receives on the server's endpoint through a
    // receive-capable grant; the owner then dies.
    let receive = IpcPermissions {
        can_send: false,
        can_share: false,
        ..IpcPermissions::all(64)
    };
    let token = w
        .state
        .grant(
            w.server_process,
            w.server_token,
            w.client_process,
            receive,
            IpcLimits::NONE,
            None,
            0,
        )
        .unwrap();
    w.state
        .recv(w.client, token, RecvMode::Until(100), 0)
        .unwrap();
    let actions = w.state.on_process_death(w.server_process).unwrap();
    assert_eq!(
        actions,
        [Action::Wake {
            thread: w.client,
            status: Err(IpcError::InvalidCapability)
        }]
    );
    assert!(
        w.state.timeout(w.client, 100).is_empty(),
        "the stale timer finds it running"
    );
}

#[test]
fn a_thousand_client_processes_come_and_go_without_leaking() {
    let mut w = world(0);
    let baseline_objects = w.state.registry().live_objects();
    let baseline_slots = w.state.space(w.server_process).unwrap().used_slots();
    let baseline_processes = w.state.process_count();
    for round in 0..1_024u64 {
        let process = w.state.create_process().unwrap();
        let thread = w.state.create_thread(process, CpuId(0)).unwrap();
        let token = w
            .state
            .grant(
                w.server_process,
                w.server_token,
                process,
                IpcPermissions::all(64),
                IpcLimits::NONE,
                Some(round + 1),
                0,
            )
            .unwrap();
        // Every other client dies in the middle of a call.
        w.state.call(thread, token, message(round), 0).unwrap();
        if round % 2 == 0 {
            w.state
                .recv(w.server, w.server_token, RecvMode::Block, 0)
                .unwrap();
            w.state.on_process_death(process).unwrap();
            assert_eq!(
                w.state.reply(w.server, message(0)),
                Err(IpcError::InvalidCapability)
            );
        } else {
            w.state.on_process_death(process).unwrap();
        }
    }
    assert_eq!(w.state.registry().live_objects(), baseline_objects);
    assert_eq!(
        w.state.space(w.server_process).unwrap().used_slots(),
        baseline_slots
    );
    assert_eq!(w.state.process_count(), baseline_processes);
    // The server still works.
    assert_eq!(
        w.state
            .recv(w.server, w.server_token, RecvMode::NonBlocking, 0),
        Err(IpcError::WouldBlock)
    );
    assert!(w.state.space(w.client_process).is_some());
}

/// A caller queued behind a busy server can name the thread it waits for
/// (the kernel lends that thread the caller's priority): the endpoint's server
/// is the thread that last received on it, and nobody before any receive.
#[test]
fn queued_callers_know_the_endpoint_server() {
    let mut w = world(0);
    let endpoint = match w.state.call(w.client, w.client_token, message(1), 0) {
        Ok(_) => match w.state.thread_state(w.client) {
            Some(ThreadState::Calling { endpoint, .. }) => endpoint,
            other => panic!("a call without a receiver queues: {other:?}"),
        },
        Err(e) => panic!("call failed: {e:?}"),
    };
    assert_eq!(w.state.endpoint_server(endpoint), None, "no receive yet");
    w.state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    assert_eq!(w.state.endpoint_server(endpoint), Some(w.server));
    // A second caller queued while the server is busy with the first call
    // waits for that same server.
    let second = w.state.create_thread(w.client_process, CpuId(0)).unwrap();
    w.state.call(second, w.client_token, message(2), 0).unwrap();
    assert!(matches!(
        w.state.thread_state(second),
        Some(ThreadState::Calling { .. })
    ));
    assert_eq!(w.state.endpoint_server(endpoint), Some(w.server));
}

#[test]
fn threads_made_at_a_chosen_reference_work_like_any_other() {
    let registry = CapRegistry::new(1 << 16, 1_000_000_000).unwrap();
    let mut state = IpcState::new(registry, 64);
    let server_process = state.create_process().unwrap();
    let client_process = state.create_process().unwrap();
    let (server, client) = (ThreadRef(40), ThreadRef(7));
    state
        .create_thread_at(server, server_process, CpuId(0))
        .unwrap();
    state
        .create_thread_at(client, client_process, CpuId(0))
        .unwrap();
    // Taken, or of no process: refused, and nothing changes.
    let before = state.clone();
    assert_eq!(
        state.create_thread_at(server, client_process, CpuId(0)),
        Err(IpcError::InvalidArgument)
    );
    assert_eq!(
        state.create_thread_at(ThreadRef(3), ProcessId(99), CpuId(0)),
        Err(IpcError::ProcessNotFound)
    );
    assert_eq!(state, before);
    assert_eq!(state.thread_state(ThreadRef(3)), None);
    assert_eq!(state.thread_state(server), Some(ThreadState::Running));
    // A call between them goes through under those references.
    let (_, server_token) = state.create_endpoint(server_process, 64).unwrap();
    let client_token = state
        .grant(
            server_process,
            server_token,
            client_process,
            IpcPermissions::all(64),
            IpcLimits::NONE,
            Some(BADGE),
            0,
        )
        .unwrap();
    state
        .recv(server, server_token, RecvMode::Block, 0)
        .unwrap();
    let actions = state.call(client, client_token, message(1), 0).unwrap();
    assert!(actions.contains(&Action::Deliver {
        from: client,
        to: server,
        message: message(1),
        badge: BADGE,
    }));
    assert_eq!(
        state.thread_state(client),
        Some(ThreadState::AwaitingReply { server })
    );
}

/// Wakes among `actions`, sorted by thread.
fn wakes(mut actions: Vec<Action>) -> Vec<(ThreadRef, Result<(), IpcError>)> {
    let mut wakes: Vec<_> = actions
        .drain(..)
        .filter_map(|action| match action {
            Action::Wake { thread, status } => Some((thread, status)),
            _ => None,
        })
        .collect();
    wakes.sort_by_key(|(thread, _)| thread.0);
    wakes
}

/// The server delegates its endpoint's receive right to a new worker
/// process: (that process, its thread, the worker's token).
fn delegated_receiver(w: &mut World) -> (ProcessId, ThreadRef, CapToken) {
    let worker_process = w.state.create_process().unwrap();
    let worker = w.state.create_thread(worker_process, CpuId(1)).unwrap();
    let receive = w
        .state
        .grant(
            w.server_process,
            w.server_token,
            worker_process,
            IpcPermissions::all(64),
            IpcLimits::NONE,
            None,
            0,
        )
        .unwrap();
    (worker_process, worker, receive)
}

#[test]
fn endpoint_churn_reuses_ids_and_frees_on_revoke() {
    let mut w = world(0);
    let baseline = w.state.endpoint_count();
    let first = w.state.create_endpoint(w.server_process, 64).unwrap().0;
    let mut last = first;
    for _ in 0..10_000 {
        let (endpoint, root) = w.state.create_endpoint(w.server_process, 64).unwrap();
        last = endpoint;
        let (count, actions) = w.state.revoke(w.server_process, root).unwrap();
        assert_eq!(count, 1);
        assert!(actions.is_empty());
        assert_eq!(w.state.endpoint_count(), baseline + 1);
    }
    assert_ne!(last, first);
    assert_eq!(
        w.state.endpoint_count(),
        baseline + 1,
        "revoked endpoints are freed"
    );
}

#[test]
fn revoking_the_root_destroys_the_endpoint_and_wakes_its_queues() {
    let mut w = world(1);
    let second = w.state.create_thread(w.client_process, CpuId(1)).unwrap();
    w.state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    w.state.call(second, w.client_token, message(2), 0).unwrap();
    let before = w.state.endpoint_count();
    let (count, actions) = w.state.revoke(w.server_process, w.server_token).unwrap();
    assert_eq!(count, 2, "the root and the client's derived capability");
    assert_eq!(
        wakes(actions),
        [
            (w.client, Err(IpcError::InvalidCapability)),
            (second, Err(IpcError::InvalidCapability)),
        ]
    );
    assert_eq!(w.state.endpoint_count(), before - 1);
    assert_eq!(w.state.thread_state(w.client), Some(ThreadState::Running));
}

#[test]
fn revoke_wakes_a_receiver_that_lost_its_right() {
    let mut w = world(1);
    let (worker_process, worker, receive) = delegated_receiver(&mut w);
    let actions = w.state.recv(worker, receive, RecvMode::Block, 0).unwrap();
    assert!(matches!(actions.as_slice(), [Action::Block { .. }]));
    let (_, actions) = w.state.revoke(worker_process, receive).unwrap();
    assert_eq!(wakes(actions), [(worker, Err(IpcError::InvalidCapability))]);
    assert_eq!(w.state.thread_state(worker), Some(ThreadState::Running));
    // The endpoint lives on for its owner and client.
    w.state
        .call(w.client, w.client_token, message(3), 0)
        .unwrap();
    let actions = w
        .state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    assert!(matches!(actions.as_slice(), [Action::Deliver { .. }]));
}

#[test]
fn revoke_wakes_a_queued_caller_that_lost_its_right() {
    let mut w = world(1);
    w.state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    let (count, actions) = w.state.revoke(w.client_process, w.client_token).unwrap();
    assert_eq!(count, 1);
    assert_eq!(
        wakes(actions),
        [(w.client, Err(IpcError::InvalidCapability))]
    );
    // Nothing is left queued: the server waits.
    let actions = w
        .state
        .recv(w.server, w.server_token, RecvMode::Block, 0)
        .unwrap();
    assert!(matches!(actions.as_slice(), [Action::Block { .. }]));
}

#[test]
fn receiver_death_fails_queued_callers() {
    let mut w = world(1);
    let (worker_process, worker, receive) = delegated_receiver(&mut w);
    // The worker serves one call, then the next caller queues behind it.
    w.state.recv(worker, receive, RecvMode::Block, 0).unwrap();
    w.state
        .call(w.client, w.client_token, message(1), 0)
        .unwrap();
    let second = w.state.create_thread(w.client_process, CpuId(1)).unwrap();
    w.state.call(second, w.client_token, message(2), 0).unwrap();
    let actions = w.state.on_process_death(worker_process).unwrap();
    assert_eq!(
        wakes(actions),
        [
            (w.client, Err(IpcError::ProcessNotFound)),
            (second, Err(IpcError::ProcessNotFound)),
        ]
    );
    assert_eq!(w.state.thread_state(second), Some(ThreadState::Running));
}
