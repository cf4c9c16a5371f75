// Job dependency graph: dagre computes the layout, we draw plain SVG.
// Each node is a link to its task page, so the graph works with a keyboard.
// Live task events recolour their node at once; the graph is then re-read
// (throttled), and drawn anew only when its tasks or edges changed.
import dagre from "@dagrejs/dagre";
import { getJSON } from "./http.js";
import { onLive } from "./live.js";
import { throttled } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_WIDTH = 150;
const NODE_HEIGHT = 34;
// Live events can come by the hundred; re-read the graph at most this often.
const RELOAD_INTERVAL_MS = 2000;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function setNodeStatus(link, status) {
  link.dataset.status = status;
  link.querySelector("rect").setAttribute("class", `status-fill-${status}`);
  link.querySelector("title").textContent = `${link.dataset.name}: ${status}`;
}

function findNode(container, taskId) {
  return container.querySelector(`a.node[data-task-id="${CSS.escape(taskId)}"]`);
}

// What decides the layout: the tasks and their edges, not their statuses.
function shapeOf(data) {
  return JSON.stringify([data.nodes.map((n) => [n.id, n.name]), data.edges, data.truncated]);
}

function layout(data) {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 12, ranksep: 40, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of data.nodes) graph.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT, node });
  for (const edge of data.edges) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  return graph;
}

function draw(container, data) {
  const graph = layout(data);
  const { width, height } = graph.graph();
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
                          "aria-label": `Dependency graph of ${data.nodes.length} tasks` });
  for (const edgeId of graph.edges()) {
    const points = graph.edge(edgeId).points;
    const d = points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
    el("path", { d, class: "edge" }, svg);
  }
  for (const id of graph.nodes()) {
    const { x, y, node } = graph.node(id);
    const link = el("a", { href: container.dataset.taskUrl.replace("TASK_ID", id), class: "node",
                           "data-task-id": id, "data-name": node.name }, svg);
    el("title", {}, link);
    el("rect", { x: x - NODE_WIDTH / 2, y: y - NODE_HEIGHT / 2, width: NODE_WIDTH, height: NODE_HEIGHT, rx: 4 }, link);
    const label = el("text", { x, y: y + 4, "text-anchor": "middle" }, link);
    label.textContent = node.name.length > 20 ? `${node.name.slice(0, 19)}…` : node.name;
    setNodeStatus(link, node.status);
  }
  const { scrollLeft, scrollTop } = container;
  container.replaceChildren(svg);
  container.scrollLeft = scrollLeft;
  container.scrollTop = scrollTop;
  if (data.truncated) {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = `Only the first ${data.nodes.length} tasks are shown.`;
    container.appendChild(note);
  }
}

export function initDepsgraph() {
  const container = document.getElementById("depsgraph");
  if (!container) return;
  let drawnShape = null;

  const load = async () => {
    try {
      const data = await getJSON(container.dataset.url);
      const shape = shapeOf(data);
      if (shape === drawnShape) {
        for (const node of data.nodes) {
          const link = findNode(container, node.id);
          if (link) setNodeStatus(link, node.status);
        }
        return;
      }
      drawnShape = shape;
      if (!data.nodes.length) {
        container.innerHTML = '<p class="muted">No tasks, so no graph.</p>';
        return;
      }
      draw(container, data);
    } catch (error) {
      drawnShape = null;
      container.textContent = `Could not load the graph: ${error.message}`;
    }
  };
  const reload = throttled(load, RELOAD_INTERVAL_MS);

  onLive("task", (event) => {
    if (event.job !== container.dataset.jobId) return;
    const link = event.status && findNode(container, event._id);
    if (link) setNodeStatus(link, event.status);
    reload();
  });
  onLive("job", (event) => { if (event._id === container.dataset.jobId) reload(); });
  reload();
}
