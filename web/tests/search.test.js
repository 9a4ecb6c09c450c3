// Searching messages in the browser through the real standalone server: hits from every room
// with their room, sender and the matched words marked (accents ignored, Japanese found inside
// words), the empty state and a refused query, more results on demand, the keyboard shortcuts
// and Escape, and a hit older than the loaded history opened in its room and shown.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, assertNoErrors, launchBrowser, openUser, screenshot, startServer } from "./harness.js";
import { PASSWORD, connection, hidden, message, register, roomButton, session, until, visible } from "./ui.js";

let server;
let browser;
let alice;

const searchBox = () => alice.page.getByLabel("Search messages");
const results = (query) => alice.page.getByRole("list", { name: `Messages found for “${query}”` });
const hit = (query, text) => results(query).getByRole("listitem").filter({ hasText: text });
const status = () => alice.page.locator(".search-results").getByRole("status");

/** Whether the element is wholly inside the visible part of the conversation. */
const inView = (locator) =>
  locator.evaluate((el) => {
    const log = el.closest('[role="log"]').getBoundingClientRect();
    const box = el.getBoundingClientRect();
    return box.top >= log.top && box.bottom <= log.bottom;
  });

const focused = (locator) => locator.evaluate((el) => el === document.activeElement);

describe("searching messages", () => {
  before(async () => {
    server = await startServer({ CHAT_SEND_RATE_BURST: "100000" });
    browser = await launchBrowser();
    alice = await openUser(browser, server.url, "alice");
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("alice and bob talk in a group and in a direct chat", async () => {
    await register(alice, "alice", "Alice");
    const { access_token: token } = await session(alice);
    const bob = await server.call("POST", "/api/auth/register", {
      body: { username: "bob", password: PASSWORD, display_name: "Bob" },
    });
    const group = await server.call("POST", "/api/rooms", { token, body: { name: "Weekend trip", members: [bob.user.id] } });
    const direct = await server.call("POST", "/api/rooms/direct", { token, body: { user_id: bob.user.id } });
    await server.send(bob.access_token, group.id, ["Café crème for everyone?"]);
    await server.send(token, direct.id, ["Caffeine first, then the museum"]);
    await server.send(bob.access_token, direct.id, ["東京タワーで会いましょう"]);
    // Enough later messages that the café one is not on the group's first page.
    await server.send(bob.access_token, group.id, Array.from({ length: 60 }, (_, i) => `Plan item ${i + 1}`));
    await alice.page.reload();
    await connection(alice, "online");
    await roomButton(alice, "Weekend trip").click();
    await visible(message(alice, "Plan item 60"));
    assert.equal(await message(alice, "Café crème").count(), 0, "the café message is older than the loaded page");
    await roomButton(alice, "Bob").click();
    await visible(message(alice, "東京タワー"));
  });

  it("Ctrl+K and a search for “caf”: hits from both rooms, with room, sender and the match marked", async () => {
    await alice.page.keyboard.press("Control+k");
    assert.equal(await focused(searchBox()), true, "Ctrl+K focuses the search box");
    await alice.page.keyboard.type("caf");
    const cafe = hit("caf", "Café crème for everyone?");
    await visible(cafe);
    assert.equal(await cafe.locator(".hit-room").textContent(), "Weekend trip");
    assert.equal(await cafe.locator(".hit-sender").textContent(), "Bob");
    assert.deepEqual(await cafe.locator("mark").allTextContents(), ["Caf"]);
    const mine = hit("caf", "Caffeine first");
    assert.equal(await mine.locator(".hit-room").textContent(), "Bob", "a direct chat is named after the other person");
    assert.equal(await mine.locator(".hit-sender").textContent(), "Alice");
    assert.deepEqual(await mine.locator("mark").allTextContents(), ["Caf"]);
    assert.equal(await results("caf").getByRole("listitem").count(), 2);
    await visible(status().filter({ hasText: "2 found" }));
    await hidden(roomButton(alice, "Weekend trip"));
    await screenshot(alice.page, "results");
    await assertAccessible(alice.page, "search results");
  });

  it("a hit older than the loaded history opens its room and shows the message, highlighted", async () => {
    await hit("caf", "Café crème").getByRole("button").click();
    await visible(alice.page.getByRole("heading", { level: 2, name: "Weekend trip" }));
    const found = message(alice, "Café crème for everyone?");
    await visible(found);
    await until("the café message in view", () => inView(found));
    assert.equal(await focused(found), true, "the message has the focus");
    assert.match(await found.getAttribute("class"), /\brevealed\b/, "the message is highlighted");
    await screenshot(alice.page, "hit-shown");
    // The results stay, to open another.
    await visible(hit("caf", "Caffeine first"));
  });

  it("“/” focuses the search; Japanese is found inside words; Enter on a hit opens it", async () => {
    await alice.page.keyboard.press("/");
    assert.equal(await focused(searchBox()), true, "/ focuses the search box");
    await searchBox().fill("タワー");
    const tower = hit("タワー", "東京タワーで会いましょう");
    await visible(tower);
    assert.deepEqual(await tower.locator("mark").allTextContents(), ["タワー"]);
    assert.equal(await tower.locator(".hit-room").textContent(), "Bob");
    await tower.getByRole("button").focus();
    await alice.page.keyboard.press("Enter");
    await visible(alice.page.getByRole("heading", { level: 2, name: "Bob" }));
    await until("the Japanese message in view", () => inView(message(alice, "東京タワー")));
  });

  it("a search that finds nothing says so; a query without words is explained", async () => {
    await searchBox().fill("zebra");
    await visible(status().filter({ hasText: "No messages found for “zebra”" }));
    await screenshot(alice.page, "nothing-found");
    await searchBox().fill("!!");
    await visible(alice.page.getByRole("alert").filter({ hasText: /letters or digits\.$/ }));
    // The browser reports the refused request itself on the console; that one is expected.
    alice.errors.splice(0, alice.errors.length, ...alice.errors.filter((e) => !e.includes("status of 400")));
  });

  it("more results load on demand", async () => {
    await searchBox().fill("plan");
    await visible(status().filter({ hasText: "20 found, more to load" }));
    for (const n of [40, 60]) {
      await alice.page.getByRole("button", { name: "Load more" }).click();
      await visible(status().filter({ hasText: `${n} found` }));
    }
    await visible(status().filter({ hasText: /^60 found$/ }));
    await hidden(alice.page.getByRole("button", { name: "Load more" }));
    await visible(hit("plan", /^Weekend trip.*Bob.*Plan item 1$/));
  });

  it("Escape closes the results: the room list is back", async () => {
    await searchBox().focus();
    await alice.page.keyboard.press("Escape");
    await hidden(alice.page.locator(".search-results"));
    await visible(roomButton(alice, "Weekend trip"));
    assert.equal(await searchBox().inputValue(), "");
  });

  it("no console errors and no uncaught exceptions", () => {
    assertNoErrors(alice);
  });
});
