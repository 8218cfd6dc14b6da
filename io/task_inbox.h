// TaskInbox: an unbounded lock-free queue of tasks that any thread pushes to and exactly one
// thread (a reactor's) drains. push() from any thread, pop() only from the consumer.
//
// This is Dmitry Vyukov's intrusive MPSC node queue
// (https://www.1024cores.net/home/lock-free-algorithms/queues/intrusive-mpsc-node-based-queue):
// a producer swaps its node in as the new head with one atomic exchange and then links the
// previous head to it; the consumer walks from the tail. Unbounded on purpose: what goes
// through it (input events, session notices between shards) must never be dropped, and is
// bounded upstream by the sockets it came from. One allocation per task; no mutex.
//
// Like MpscQueue, a producer preempted between its exchange and its link hides the tasks
// pushed after it until it resumes: pop() reports "empty" meanwhile, nothing is lost, and the
// producer's wake-up (which follows its push) makes the consumer look again.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace spiced {

class TaskInbox {
public:
    using Task = std::function<void()>;

    TaskInbox() = default;
    ~TaskInbox() {
        while (pop()) {
        }
    }
    TaskInbox(const TaskInbox&) = delete;
    TaskInbox& operator=(const TaskInbox&) = delete;

    // Any thread.
    void push(Task task) {
        auto node = std::make_unique<Node>();
        node->task = std::move(task);
        link(node.release());  // owned by the list until pop() takes it back
    }

    // The consumer thread only: the oldest task, or nothing.
    std::optional<Task> pop() {
        Node* tail = tail_;
        Node* next = tail->next.load(std::memory_order_acquire);
        if (tail == &stub_) {
            if (next == nullptr) return std::nullopt;
            tail_ = next;
            tail = next;
            next = next->next.load(std::memory_order_acquire);
        }
        if (next != nullptr) return take(tail, next);
        if (tail != head_.load(std::memory_order_acquire)) return std::nullopt;  // mid-push
        // `tail` is the last node: put the stub behind it so it can be taken.
        stub_.next.store(nullptr, std::memory_order_relaxed);
        link(&stub_);
        next = tail->next.load(std::memory_order_acquire);
        if (next != nullptr) return take(tail, next);
        return std::nullopt;
    }

private:
    struct Node {
        std::atomic<Node*> next{nullptr};
        Task task;
    };

    void link(Node* node) {
        Node* previous = head_.exchange(node, std::memory_order_acq_rel);
        previous->next.store(node, std::memory_order_release);
    }
    std::optional<Task> take(Node* node, Node* next) {
        tail_ = next;
        std::unique_ptr<Node> owned(node);
        return std::optional<Task>(std::move(owned->task));
    }

    Node stub_;
    std::atomic<Node*> head_{&stub_};  // producers
    Node* tail_ = &stub_;              // the consumer
};

}  // namespace spiced
