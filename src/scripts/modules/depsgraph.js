// Job dependency graph: dagre computes the layout, we draw plain SVG.
// Each node is a link to its task page, so the graph works with a keyboard.
import dagre from "@dagrejs/dagre";
import { getJSON } from "./http.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_WIDTH = 150;
const NODE_HEIGHT = 34;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
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
    const link = el("a", { href: container.dataset.taskUrl.replace("TASK_ID", id), class: "node" }, svg);
    el("title", {}, link).textContent = `${node.name}: ${node.status}`;
    el("rect", { x: x - NODE_WIDTH / 2, y: y - NODE_HEIGHT / 2, width: NODE_WIDTH, height: NODE_HEIGHT,
                 rx: 4, class: `status-fill-${node.status}` }, link);
    const label = el("text", { x, y: y + 4, "text-anchor": "middle" }, link);
    label.textContent = node.name.length > 20 ? `${node.name.slice(0, 19)}…` : node.name;
  }
  container.replaceChildren(svg);
  if (data.truncated) {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = `Only the first ${data.nodes.length} tasks are shown.`;
    container.appendChild(note);
  }
}

export async function initDepsgraph() {
  const container = document.getElementById("depsgraph");
  if (!container) return;
  try {
    const data = await getJSON(container.dataset.url);
    if (!data.nodes.length) {
      container.innerHTML = '<p class="muted">No tasks, so no graph.</p>';
      return;
    }
    draw(container, data);
  } catch (error) {
    container.textContent = `Could not load the graph: ${error.message}`;
  }
}
