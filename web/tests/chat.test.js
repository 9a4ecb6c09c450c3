// Two people chat in headless Chromium through the real standalone server: registering, a
// direct chat, typing indicators, read markers (also after a reload), unread counts, going
// offline and back, edits, deletes (also those made while the other was offline), reactions,
// replies, a group and its members changing, mentions with the @ list, the notification menu.
// Screenshots of the main screens go to web/test-output/screenshots.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, assertNoErrors, launchBrowser, openUser, screenshot, startServer } from "./harness.js";
import {
  PASSWORD,
  composer,
  connection,
  hidden,
  message,
  messages,
  register,
  roomButton,
  say,
  session,
  unread,
  unreadIs,
  until,
  visible,
} from "./ui.js";

const TOKEN_TTL_SECS = 6;
let server;
let browser;
let alice; // a desktop window
let bob; // a phone-sized window

describe("chatting in the browser", () => {
  before(async () => {
    // A send rate that never limits (one test sends a long history at once), and access
    // tokens that expire every few seconds, so the app refreshes them throughout.
    server = await startServer({ CHAT_SEND_RATE_BURST: "100000", CHAT_ACCESS_TOKEN_TTL_SECS: String(TOKEN_TTL_SECS) });
    browser = await launchBrowser();
    alice = await openUser(browser, server.url, "alice");
    bob = await openUser(browser, server.url, "bob", { width: 390, height: 780 });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("two people register and are signed in", async () => {
    await bob.page.goto("/");
    await visible(bob.page.getByRole("heading", { name: "Sign in to Chat" }));
    await screenshot(bob.page, "sign-in-phone");
    await assertAccessible(bob.page, "the sign-in screen");
    await register(alice, "alice", "Alice");
    await register(bob, "bob", "Bob");
    await visible(alice.page.getByText("Pick a conversation"));
    await screenshot(alice.page, "signed-in-empty");
  });

  it("alice finds bob and starts a direct chat; it appears on bob's list", async () => {
    await alice.page.getByLabel("Find people").fill("bo");
    await alice.page.getByRole("button", { name: "Chat with Bob (@bob)" }).click();
    await visible(alice.page.getByRole("heading", { level: 2, name: "Bob" }));
    // bob is online: the dot and the header say so.
    await visible(alice.page.locator(".conv-sub").filter({ hasText: "online" }));
    await visible(roomButton(bob, "Alice"));
    await visible(roomButton(bob, "Alice").getByText("online"));
  });

  it("messages arrive with typing indicators and unread counts that rise", async () => {
    await composer(alice).fill("Hi Bob");
    await visible(roomButton(bob, "Alice").getByText("typing…"));
    await composer(alice).press("Enter");
    await visible(message(alice, "Hi Bob"));
    await unreadIs(bob, "Alice", 1);
    await say(alice, "Are you there?");
    await unreadIs(bob, "Alice", 2);
    await screenshot(bob.page, "room-list-unread-phone");
    await assertAccessible(bob.page, "the room list on a phone");
  });

  it("bob opens the chat: counts clear, read markers and typing show on both sides", async () => {
    await roomButton(bob, "Alice").click();
    await visible(bob.page.getByRole("heading", { level: 2, name: "Alice" }));
    await visible(message(bob, "Hi Bob"));
    await visible(message(bob, "Are you there?"));
    // alice sees that bob read her last message.
    await visible(message(alice, "Are you there?").locator(".seen", { hasText: "Seen" }));
    await composer(bob).fill("Yes, here");
    await visible(alice.page.getByText("Bob is typing…"));
    await screenshot(alice.page, "conversation-typing-and-seen");
    await assertAccessible(alice.page, "a conversation");
    await composer(bob).press("Enter");
    await visible(message(alice, "Yes, here"));
    await hidden(alice.page.getByText("Bob is typing…"));
    // alice has the chat open, so she reads it at once, and bob sees that.
    await visible(message(bob, "Yes, here").locator(".seen"));
    await screenshot(bob.page, "conversation-phone");
    await assertAccessible(bob.page, "a conversation on a phone");
    await bob.page.getByRole("button", { name: "Back to conversations" }).click();
    await visible(roomButton(bob, "Alice"));
    assert.equal(await unread(bob, "Alice").count(), 0, "no unread badge after reading");
  });

  it("bob goes offline, and sees what he missed when he is back, without a reload", async () => {
    await bob.context.setOffline(true);
    await connection(bob, "offline");
    await visible(alice.page.locator(".conv-sub").filter({ hasText: "offline" }));
    for (const text of ["Missed one", "Missed two", "Missed three"]) await say(alice, text);
    // bob cannot know whether alice is there while he is offline himself: nothing claims she is not.
    assert.equal(await roomButton(bob, "Alice").getByText("offline").count(), 0, "alice is not shown offline to an offline bob");
    await screenshot(bob.page, "offline-phone");
    await assertAccessible(bob.page, "the offline banner");
    const loads = [];
    bob.page.on("load", () => loads.push(Date.now()));
    await bob.context.setOffline(false);
    await connection(bob, "online");
    await visible(roomButton(bob, "Alice").getByText("online"));
    await unreadIs(bob, "Alice", 3);
    await screenshot(bob.page, "back-online-unread-phone");
    await roomButton(bob, "Alice").click();
    for (const text of ["Missed one", "Missed two", "Missed three"]) await visible(message(bob, text));
    assert.deepEqual(loads, [], "the page was not reloaded");
    await visible(message(alice, "Missed three").locator(".seen"));
  });

  it("alice reloads the page: bob's read marker is still shown", async () => {
    await visible(message(alice, "Missed three").locator(".seen", { hasText: "Seen" }));
    await alice.page.reload();
    await connection(alice, "online");
    await visible(alice.page.getByRole("heading", { level: 2, name: "Bob" }));
    await visible(message(alice, "Missed three"));
    // Nothing new was read since, so no live `read` event brings it: the app asks the server.
    await visible(message(alice, "Missed three").locator(".seen", { hasText: "Seen" }));
    assert.equal(await messages(alice).locator(".seen").count(), 1, "one marker, under the last message bob read");
  });

  it("a message sent while offline shows at once and is delivered once when back", async () => {
    await alice.context.setOffline(true);
    await connection(alice, "offline");
    await composer(alice).fill("Written in a tunnel");
    await composer(alice).press("Enter");
    await visible(messages(alice).locator("li.pending").filter({ hasText: "Written in a tunnel" }).getByText("Sending…"));
    await screenshot(alice.page, "sending-while-offline");
    await alice.context.setOffline(false);
    await visible(message(bob, "Written in a tunnel"));
    await hidden(messages(alice).locator("li.pending"));
    assert.equal(await message(bob, "Written in a tunnel").count(), 1, "delivered exactly once");
    assert.equal(await message(alice, "Written in a tunnel").count(), 1, "shown once to the sender");
  });

  it("alice edits and deletes her messages; bob sees both", async () => {
    const mine = message(alice, "Missed one");
    await mine.hover();
    await mine.getByRole("button", { name: "Edit" }).click();
    await alice.page.getByLabel("Edit message").fill("Missed one (fixed)");
    await alice.page.getByRole("button", { name: "Save" }).click();
    await visible(message(bob, "Missed one (fixed)").getByText("edited"));
    const gone = message(alice, "Missed two");
    await gone.hover();
    await gone.getByRole("button", { name: "Delete" }).click();
    // Asked first; keeping it changes nothing.
    await gone.getByRole("button", { name: "Keep it" }).click();
    await hidden(gone.getByRole("group", { name: "Delete this message?" }));
    await gone.getByRole("button", { name: "Delete" }).click();
    await gone.getByRole("button", { name: "Yes, delete" }).click();
    await visible(message(bob, "This message was deleted."));
    await hidden(message(bob, "Missed two"));
  });

  it("bob reacts to alice's message from the keyboard; both see the chip, who reacted, and toggle it", async () => {
    const theirs = message(bob, "Missed one (fixed)");
    await theirs.hover();
    await theirs.getByRole("button", { name: "React" }).focus();
    await bob.page.keyboard.press("Enter");
    const first = bob.page.getByRole("menuitem", { name: "React with 👍" });
    await visible(first);
    assert.equal(await first.evaluate((el) => el === document.activeElement), true, "the first emoji has the focus");
    await bob.page.keyboard.press("Enter");
    await hidden(bob.page.getByRole("menu", { name: "Pick a reaction" }));

    const chip = (user, label) =>
      message(user, "Missed one (fixed)").getByRole("group", { name: "Reactions" }).getByRole("button", { name: label });
    await visible(chip(alice, "👍 1, from Bob"));
    await visible(chip(bob, "👍 1, from you"));
    assert.equal(await chip(bob, "👍 1, from you").getAttribute("aria-pressed"), "true", "bob's own reaction is pressed");
    assert.equal(await chip(alice, "👍 1, from Bob").getAttribute("aria-pressed"), "false");
    assert.equal(await chip(alice, "👍 1, from Bob").getAttribute("title"), "Bob", "who reacted shows on hover");
    await screenshot(bob.page, "reaction");

    // alice joins in with a click on the chip; bob takes his back.
    await chip(alice, "👍 1, from Bob").click();
    await visible(chip(bob, "👍 2, from you, Alice"));
    await chip(bob, "👍 2, from you, Alice").click();
    await visible(chip(alice, "👍 1, from you"));
    await hidden(chip(bob, /👍 2/));
    await visible(chip(bob, "👍 1, from Alice"));
    await assertAccessible(bob.page, "a message with reactions");
  });

  it("bob replies to alice's message; both see the quote, and a click on it shows the original", async () => {
    const theirs = message(bob, "Missed three");
    await theirs.hover();
    await theirs.getByRole("button", { name: "Reply" }).click();
    await visible(bob.page.getByRole("status").filter({ hasText: "Replying to Alice" }));
    await say(bob, "About the third one");
    await hidden(bob.page.getByText("Replying to Alice"));
    const quote = (user) => message(user, "About the third one").getByRole("button", { name: /^In reply to Alice: Missed three/ });
    await visible(quote(bob));
    await visible(quote(alice));
    await screenshot(alice.page, "reply");
    // A click on the quote brings the original into view.
    await quote(alice).click();
    await until("the original has the focus", async () => {
      const focused = await message(alice, "Missed three").first().evaluate((el) => el === document.activeElement);
      if (focused) return true;
      throw new Error("not focused");
    });
  });

  it("what alice edits and deletes while bob is offline shows when he is back, without a reload", async () => {
    await bob.context.setOffline(true);
    await connection(bob, "offline");
    const edited = message(alice, "Missed three").first();
    await edited.hover();
    await edited.getByRole("button", { name: "Edit" }).click();
    await alice.page.getByLabel("Edit message").fill("Missed three (fixed while you were away)");
    await alice.page.getByRole("button", { name: "Save" }).click();
    await visible(message(alice, "Missed three (fixed while you were away)").getByText("edited"));
    const gone = message(alice, "Written in a tunnel");
    await gone.hover();
    await gone.getByRole("button", { name: "Delete" }).click();
    await gone.getByRole("button", { name: "Yes, delete" }).click();
    await hidden(message(alice, "Written in a tunnel"));
    // bob, offline, still shows both as they were.
    await visible(message(bob, "Written in a tunnel"));
    assert.equal(await message(bob, "fixed while you were away").count(), 0, "bob has not seen the edit yet");
    const loads = [];
    bob.page.on("load", () => loads.push(Date.now()));
    await bob.context.setOffline(false);
    await connection(bob, "online");
    await visible(message(bob, "Missed three (fixed while you were away)").getByText("edited"));
    // bob's reply quotes the original as it is now.
    await visible(
      message(bob, "About the third one").getByRole("button", { name: "In reply to Alice: Missed three (fixed while you were away)" }),
    );
    await hidden(message(bob, "Written in a tunnel"));
    await until("both deleted messages shown as deleted to bob", async () => {
      const n = await messages(bob).getByText("This message was deleted.").count();
      if (n === 2) return true;
      throw new Error(`${n} shown`);
    });
    assert.deepEqual(loads, [], "the page was not reloaded");
  });

  it("alice edits her last message with ↑ and Enter; near the length limit the composer counts down", async () => {
    await say(alice, "Typo hree");
    await composer(alice).focus();
    await composer(alice).press("ArrowUp");
    const box = alice.page.getByLabel("Edit message");
    assert.equal(await box.inputValue(), "Typo hree", "the last message of hers, ready to edit");
    await box.fill("Typo here");
    await box.press("Enter");
    await hidden(box);
    await visible(message(bob, "Typo here").getByText("edited"));

    await composer(alice).fill("x".repeat(3600));
    await visible(alice.page.getByText("400 characters left"));
    await composer(alice).fill("");
    await hidden(alice.page.getByText("characters left"));
  });

  it("bold, code, quotes and links show as such; only http(s) links are links, and they open apart", async () => {
    const text = "**Plan**: read https://example.org/a?b=1, then run `npm test`; not javascript:alert(1)\n> as agreed\n```\nlet x = 1;\n```";
    await composer(alice).fill(text);
    await composer(alice).press("Enter");
    const shown = message(bob, "as agreed");
    await visible(shown);
    assert.equal(await shown.locator("strong").textContent(), "Plan");
    const link = shown.getByRole("link", { name: "https://example.org/a?b=1" });
    assert.equal(await link.getAttribute("href"), "https://example.org/a?b=1", "the comma after it is no part of it");
    assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
    assert.equal(await link.getAttribute("target"), "_blank");
    assert.equal(await shown.getByRole("link").count(), 1, "javascript: is text");
    assert.equal(await shown.locator("code").first().textContent(), "npm test");
    assert.equal(await shown.locator("blockquote").textContent(), "as agreed");
    assert.equal(await shown.locator("pre code").textContent(), "let x = 1;");
    await screenshot(bob.page, "markup-phone");
  });

  it("the tab title counts unread messages", async () => {
    await bob.page.getByRole("button", { name: "Back to conversations" }).click();
    await say(alice, "Title check");
    // The list shows the latest message and its time.
    await visible(roomButton(bob, "Alice").locator(".room-last").filter({ hasText: "Title check" }));
    await visible(roomButton(bob, "Alice").locator("time.room-time"));
    await until("bob's tab title shows the unread count", async () => {
      const title = await bob.page.title();
      if (/^\(\d+\) Chat$/.test(title)) return true;
      throw new Error(`title is ${title}`);
    });
    await roomButton(bob, "Alice").click();
    await until("bob's tab title is plain again", async () => {
      const title = await bob.page.title();
      if (title === "Chat") return true;
      throw new Error(`title is ${title}`);
    });
  });

  it("alice creates a group with bob", async () => {
    await bob.page.getByRole("button", { name: "Back to conversations" }).click();
    await alice.page.getByRole("button", { name: "New group" }).click();
    await alice.page.getByLabel("Group name").fill("Weekend trip");
    await alice.page.getByLabel("Add members").fill("bob");
    await alice.page.getByRole("button", { name: "Add Bob (@bob)" }).click();
    await visible(alice.page.getByRole("list", { name: "Members" }).getByText("Bob"));
    await screenshot(alice.page, "new-group");
    await assertAccessible(alice.page, "the new group form");
    await alice.page.getByRole("button", { name: "Create group" }).click();
    await visible(alice.page.getByRole("heading", { level: 2, name: "Weekend trip" }));
    await say(alice, "Who is in?");
    await visible(roomButton(bob, "Weekend trip"));
    await unreadIs(bob, "Weekend trip", 1);
    await screenshot(alice.page, "group-conversation");
  });

  it("alice adds carol to the group from another device: both windows show the new member", async () => {
    await visible(roomButton(bob, "Weekend trip").getByText("2 members"));
    const carol = await server.call("POST", "/api/auth/register", {
      body: { username: "carol", password: PASSWORD, display_name: "Carol" },
    });
    const login = await server.call("POST", "/api/auth/login", { body: { username: "alice", password: PASSWORD } });
    const { rooms } = await server.call("GET", "/api/rooms", { token: login.access_token });
    const group = rooms.find((r) => r.name === "Weekend trip");
    await server.call("POST", `/api/rooms/${group.id}/members`, {
      token: login.access_token,
      body: { user_id: carol.user.id },
    });
    // Without a reload: the room's change (`room:updated`) brings it.
    await visible(roomButton(bob, "Weekend trip").getByText("3 members"));
    await visible(alice.page.locator(".conv-sub").filter({ hasText: "Carol" }));
  });

  it("alice mentions bob by picking him from the @ list; bob sees an @ badge, then his name marked", async () => {
    await composer(alice).fill("Ready, @bo");
    const list = alice.page.getByRole("listbox", { name: "Mention someone" });
    await visible(list.getByRole("option", { name: "Bob @bob" }));
    await composer(alice).press("Enter");
    await hidden(list);
    assert.equal(await composer(alice).inputValue(), "Ready, @bob ", "the name is completed, nothing sent yet");
    await composer(alice).pressSequentially("see you");
    assert.equal(await composer(alice).inputValue(), "Ready, @bob see you", "typing goes on after the completed name");
    await composer(alice).press("Enter");
    await visible(message(alice, "Ready, @bob see you").locator(".mention", { hasText: "@bob" }));

    const badge = roomButton(bob, "Weekend trip").locator("[data-mentions]");
    await visible(badge);
    assert.equal(await badge.getAttribute("data-mentions"), "1");
    await screenshot(bob.page, "mention-badge-phone");
    await roomButton(bob, "Weekend trip").click();
    await visible(message(bob, "Ready, @bob see you").locator(".mention.to-me", { hasText: "@bob" }));
    await hidden(badge);
    // alice's two messages in a row are one group: her name shows once, above the first.
    assert.equal(await message(bob, "Who is in?").locator(".sender").count(), 1);
    assert.equal(await message(bob, "Ready, @bob see you").locator(".sender").count(), 0);
  });

  it("bob sets the group's notifications to mentions only; it is kept after a reload", async () => {
    await bob.page.getByRole("button", { name: "All messages" }).click();
    const menu = bob.page.getByRole("menu", { name: "Notifications for this conversation" });
    await visible(menu);
    assert.equal(await menu.getByRole("menuitemradio", { name: "All messages" }).getAttribute("aria-checked"), "true");
    await menu.getByRole("menuitemradio", { name: "Mentions only" }).click();
    await visible(bob.page.getByRole("button", { name: "Mentions only" }));
    await bob.page.reload();
    await connection(bob, "online");
    if (await roomButton(bob, "Weekend trip").isVisible()) await roomButton(bob, "Weekend trip").click();
    await visible(bob.page.getByRole("button", { name: "Mentions only" }));
    await assertAccessible(bob.page, "a group conversation with mentions");
    await bob.page.getByRole("button", { name: "Back to conversations" }).click();
  });

  it("bob answers in a thread; alice sees the reply count, then the reply in the thread", async () => {
    await roomButton(bob, "Weekend trip").click();
    const root = message(bob, "Who is in?");
    await root.hover();
    await root.getByRole("button", { name: "Thread" }).click();
    const panel = bob.page.getByRole("complementary", { name: "Thread" });
    await visible(panel);
    await panel.getByLabel("Reply in thread").fill("Me, count me in");
    await panel.getByLabel("Reply in thread").press("Enter");
    await visible(panel.getByRole("list", { name: "Replies in the thread" }).getByText("Me, count me in"));
    assert.equal(await message(bob, "Me, count me in").count(), 0, "a thread's reply stays out of the room's timeline");

    const count = message(alice, "Who is in?").getByRole("button", { name: "1 reply" });
    await visible(count);
    await count.click();
    const alicesPanel = alice.page.getByRole("complementary", { name: "Thread" });
    await visible(alicesPanel.getByText("Me, count me in"));
    await screenshot(alice.page, "thread");
    await assertAccessible(alice.page, "a thread beside the conversation");
    await alicesPanel.getByRole("button", { name: "Close thread" }).click();
    await hidden(alicesPanel);
    await panel.getByRole("button", { name: "Close thread" }).click();
    await bob.page.getByRole("button", { name: "Back to conversations" }).click();
  });

  it("a long history loads page by page as bob scrolls up", async () => {
    // alice writes 130 messages from another device: a Socket.IO client of her own.
    const login = await server.call("POST", "/api/auth/login", { body: { username: "alice", password: PASSWORD } });
    const { rooms } = await server.call("GET", "/api/rooms", { token: login.access_token });
    const room = rooms.find((r) => r.kind === "direct");
    await server.send(login.access_token, room.id, Array.from({ length: 130 }, (_, i) => `Old news ${i + 1}`));
    await bob.page.reload();
    await connection(bob, "online");
    await unreadIs(bob, "Alice", 130);
    // Fresh from a reload, the list fetches each room's latest message itself.
    await visible(roomButton(bob, "Alice").locator(".room-last").filter({ hasText: "Old news 130" }));
    await visible(roomButton(bob, "Weekend trip").locator(".room-last").filter({ hasText: "Alice: Ready, @bob see you" }));
    await roomButton(bob, "Alice").click();
    await visible(message(bob, "Old news 130"));
    assert.equal(await message(bob, "Hi Bob").count(), 0, "only the latest page is loaded at first");
    const log = messages(bob);
    // Scroll to the top until the first message of the conversation is there.
    await until("the beginning of the conversation", async () => {
      await log.evaluate((el) => (el.scrollTop = 0));
      return (await message(bob, "Hi Bob").count()) === 1;
    }, 20_000);
    await visible(bob.page.getByText("This is the beginning of the conversation."));
    for (const n of [1, 65, 130]) {
      const body = messages(bob).locator(".body").getByText(`Old news ${n}`, { exact: true });
      assert.equal(await body.count(), 1, `Old news ${n} once`);
    }
    assert.equal(await messages(bob).locator("li.day").filter({ hasText: "Today" }).count(), 1, "one day, one separator");

    // Scrolled up, a new message does not pull the view down: a button counts it.
    await roomButton(alice, "Bob").click();
    await say(alice, "Anyone down there?");
    const news = bob.page.getByRole("button", { name: "1 new message ↓" });
    await visible(news);
    await screenshot(bob.page, "new-messages-below-phone");
    await news.click();
    await hidden(news);
    await visible(message(bob, "Anyone down there?"));
  });

  it("access tokens are refreshed silently: still signed in and served after they expired", async () => {
    const elapsed = Date.now() - alice.signedUpAt;
    if (elapsed < TOKEN_TTL_SECS * 1500) await new Promise((r) => setTimeout(r, TOKEN_TTL_SECS * 1500 - elapsed));
    for (const user of [alice, bob]) {
      const now = await session(user);
      assert.ok(now, `${user.name} is still signed in`);
      assert.notEqual(now.refresh_token, user.firstSession.refresh_token, `${user.name}'s tokens were rotated`);
      assert.ok(now.expires_at > Date.now(), `${user.name} holds an unexpired access token`);
    }
    await alice.page.getByLabel("Find people").fill("bo");
    await visible(alice.page.getByRole("button", { name: "Chat with Bob (@bob)" }));
    await alice.page.getByLabel("Find people").fill("");
  });

  it("no console errors and no uncaught exceptions on any page", () => {
    assertNoErrors(alice, bob);
  });
});
