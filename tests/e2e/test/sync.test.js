// Sync with changes, send order, read pointers, room:updated and typing, on the standalone
// server (docs/protocol.md: "Sync: nothing missed, changes included", `rev`, "Send order",
// `GET /api/rooms/{id}/reads`, `room:updated`, typing). The scenarios are in lib/sync.js; the
// same ones run on two socket nodes in test/sync-local-cluster.test.js.
//
//  1. a member away while 120 messages are sent and 136 older ones are edited or deleted
//     catches up with sync (both pagings) and then holds exactly the history, field by field
//  2. 1000 message:send emitted back to back without waiting for acks: all ok, seqs in emit order
//  5. GET /api/rooms/{id}/reads: every member's pointer, 404 for a non-member; room:updated (a
//     RoomInfo) to every member's sockets on add, leave and remove; typing: a message ends the
//     typist's typing at once, and a typing:false after a flood of typing:true (over the typing
//     rate) still arrives
//  8. reactions (lib/conversations.js): many members at once, all counted; a retried
//     reaction:add changes nothing; a reply's preview of the message it answers; mentions,
//     unread_mentions and notification settings; a thread replied to by many at once; search
// (3 and 4, a stopping node and a crashed one, need the cluster: test/sync-local-cluster.test.js.)

import { useServer } from "../lib/server.js";
import { connect } from "../lib/client.js";
import {
  catchUpAfterAbsence,
  pipelinedSendOrder,
  readsOfEveryMember,
  roomUpdatedToMembers,
  typingFalseAfterFlood,
  typingStopsOnSend,
} from "../lib/sync.js";
import { mentionsAndNotifications, reactionsFromBothNodes, replyPreviews, retriedReaction, searchAcrossNodes, threadFromBothNodes } from "../lib/conversations.js";

// A send rate that never limits (the tests send, edit and delete hundreds of times per user);
// the default typing rate (5 per 3 s), which the flood test goes over.
const srv = useServer({ CHAT_SEND_RATE_BURST: "1000000" }, { name: "sync" });
/** One server: every "node" is it. */
const mode = { api: srv, at: (user) => connect(srv, user) };

srv.test("1. back after 120 new messages and 137 changes, sync (messages and changed, both paged) gives exactly the history", { timeout: 120_000 }, (t) =>
  catchUpAfterAbsence(t, mode),
);

srv.test("2. 1000 message:send emitted back to back on one socket: every ack ok, seqs in emit order", { timeout: 120_000 }, (t) =>
  pipelinedSendOrder(t, mode, 1000),
);

srv.test("5a. GET /api/rooms/{id}/reads has every member's read pointer, and is 404 for a non-member", { timeout: 30_000 }, (t) =>
  readsOfEveryMember(t, mode),
);

srv.test("5b. room:updated (a RoomInfo) reaches every member's sockets when a member is added, leaves, is removed", { timeout: 30_000 }, (t) =>
  roomUpdatedToMembers(t, mode),
);

srv.test("5c. typing: the typist's message ends their typing for the others at once", { timeout: 30_000 }, (t) =>
  typingStopsOnSend(t, mode),
);

srv.test("5d. typing: a typing:false right after more typing:true than the typing rate allows is delivered", { timeout: 30_000 }, (t) =>
  typingFalseAfterFlood(t, mode),
);

srv.test("8a. twelve members react to one message at the same moment: every reaction counts once, sync agrees", { timeout: 60_000 }, (t) =>
  reactionsFromBothNodes(t, mode),
);

srv.test("8b. a retried reaction:add (or remove) is answered with the same message and changes nothing", { timeout: 30_000 }, (t) =>
  retriedReaction(t, mode),
);

srv.test("8c. a reply shows the message it answers as that one is now: after an edit, after a delete", { timeout: 30_000 }, (t) =>
  replyPreviews(t, mode),
);

srv.test("8d. mentions computed by the server, unread_mentions, notification settings", { timeout: 30_000 }, (t) =>
  mentionsAndNotifications(t, mode),
);

srv.test("8e. six members reply in one thread at once: own seqs, the root counts all twelve, the thread API lists them", { timeout: 60_000 }, (t) =>
  threadFromBothNodes(t, mode),
);

srv.test("8f. search: each member finds their rooms' messages by word starts and runs, in pages; edits, deletes and leaving", { timeout: 60_000 }, (t) =>
  searchAcrossNodes(t, mode),
);
